//! Tensor data as JSON (`$tensor_data`): row-major elements, flat or nested in the tensor's own shape, one
//! JSON value each. Coercion is strict so nothing changes silently: integer datatypes take integers in
//! their range, float datatypes take numbers within their range (precision is rounded as the type rounds),
//! `BOOL` takes `true`/`false`, `BYTES` takes strings. Answers are written flat, straight from the tensor's
//! bytes; a float that JSON cannot express (NaN, ±infinity) is written as `null` — ask for the output as
//! binary data to get it exactly.

use crate::OipError;
use crate::decode::shape_text;
use crate::parameters::short;
use edge_infer_nn::{ElementType, Tensor};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::Value;

/// A tensor from an input's JSON `data`; `count` is the shape's element count.
pub(crate) fn tensor_from_json(
    input: &str,
    ty: ElementType,
    shape: Vec<usize>,
    count: usize,
    data: &Value,
) -> Result<Tensor, OipError> {
    let leaves = flatten(input, data, &shape, count)?;
    let wrap = |e: edge_infer_nn::NnError| OipError::bad_request(format!("input \"{input}\": {}", e.message));
    if ty == ElementType::String {
        let mut strings = Vec::with_capacity(leaves.len());
        for (i, v) in leaves.iter().enumerate() {
            match v {
                Value::String(s) => strings.push(s.clone()),
                other => return Err(element_error(input, ty, i, other)),
            }
        }
        return Tensor::from_strings(shape, strings).map_err(wrap);
    }
    let size = ty.size().unwrap_or(1);
    let mut bytes = Vec::with_capacity(leaves.len().saturating_mul(size));
    for (i, v) in leaves.iter().enumerate() {
        if !push_element(ty, v, &mut bytes) {
            return Err(element_error(input, ty, i, v));
        }
    }
    Tensor::from_bytes(ty, shape, bytes).map_err(wrap)
}

/// The elements of `data` in row-major order: either a flat array of `count` scalars, or arrays nested
/// exactly as `shape`.
fn flatten<'a>(input: &str, data: &'a Value, shape: &[usize], count: usize) -> Result<Vec<&'a Value>, OipError> {
    let Value::Array(top) = data else {
        return Err(OipError::bad_request(format!(
            "input \"{input}\": data must be a JSON array of the tensor's elements, got {}",
            crate::parameters::kind(data)
        )));
    };
    if !top.iter().any(Value::is_array) {
        if top.len() != count {
            return Err(OipError::bad_request(format!(
                "input \"{input}\": shape {} has {count} elements, but data has {}",
                shape_text(shape),
                top.len()
            )));
        }
        return Ok(top.iter().collect());
    }
    // `count` comes from the request's shape: do not trust it for an allocation before the data agrees.
    let mut leaves = Vec::with_capacity(count.min(1 << 16));
    nested(input, data, shape, 0, &mut Vec::new(), &mut leaves)?;
    Ok(leaves)
}

fn nested<'a>(
    input: &str,
    value: &'a Value,
    shape: &[usize],
    depth: usize,
    at: &mut Vec<usize>,
    leaves: &mut Vec<&'a Value>,
) -> Result<(), OipError> {
    let place = || {
        let mut p = String::from("data");
        for i in at.iter() {
            p.push_str(&format!("[{i}]"));
        }
        p
    };
    let Some(&want) = shape.get(depth) else {
        if value.is_array() {
            return Err(OipError::bad_request(format!(
                "input \"{input}\": {} is an array, but shape {} has only {} dimensions",
                place(),
                shape_text(shape),
                shape.len()
            )));
        }
        leaves.push(value);
        return Ok(());
    };
    match value {
        Value::Array(items) if items.len() == want => {
            for (i, item) in items.iter().enumerate() {
                at.push(i);
                nested(input, item, shape, depth + 1, at, leaves)?;
                at.pop();
            }
            Ok(())
        }
        other => Err(OipError::bad_request(format!(
            "input \"{input}\": nested data must follow shape {}: {} should be an array of {want} elements, got {}",
            shape_text(shape),
            place(),
            match other {
                Value::Array(items) => format!("{} elements", items.len()),
                _ => short(other),
            }
        ))),
    }
}

fn int<T: TryFrom<u64> + TryFrom<i64>>(v: &Value) -> Option<T> {
    let n = v.as_number()?;
    match n.as_u64() {
        Some(u) => T::try_from(u).ok(),
        None => T::try_from(n.as_i64()?).ok(),
    }
}

/// Appends one element's little-endian bytes; `false` when the value does not fit the type.
fn push_element(ty: ElementType, v: &Value, out: &mut Vec<u8>) -> bool {
    macro_rules! put {
        ($e:expr) => {
            match $e {
                Some(x) => {
                    out.extend_from_slice(&x.to_le_bytes());
                    true
                }
                None => false,
            }
        };
    }
    match ty {
        ElementType::Bool => put!(v.as_bool().map(u8::from)),
        ElementType::U8 => put!(int::<u8>(v)),
        ElementType::U16 => put!(int::<u16>(v)),
        ElementType::U32 => put!(int::<u32>(v)),
        ElementType::U64 => put!(int::<u64>(v)),
        ElementType::I8 => put!(int::<i8>(v)),
        ElementType::I16 => put!(int::<i16>(v)),
        ElementType::I32 => put!(int::<i32>(v)),
        ElementType::I64 => put!(int::<i64>(v)),
        ElementType::F64 => put!(v.as_f64()),
        ElementType::F32 => put!(v.as_f64().filter(|f| f.abs() <= f64::from(f32::MAX)).map(|f| f as f32)),
        ElementType::F16 => put!(v.as_f64().map(half::f16::from_f64).filter(|h| h.is_finite())),
        ElementType::Bf16 => put!(v.as_f64().map(half::bf16::from_f64).filter(|h| h.is_finite())),
        ElementType::String => false,
    }
}

fn element_error(input: &str, ty: ElementType, index: usize, value: &Value) -> OipError {
    let expected = match ty {
        ElementType::Bool => "true or false".to_string(),
        ElementType::U8 => format!("an integer in 0..={}", u8::MAX),
        ElementType::U16 => format!("an integer in 0..={}", u16::MAX),
        ElementType::U32 => format!("an integer in 0..={}", u32::MAX),
        ElementType::U64 => format!("an integer in 0..={}", u64::MAX),
        ElementType::I8 => format!("an integer in {}..={}", i8::MIN, i8::MAX),
        ElementType::I16 => format!("an integer in {}..={}", i16::MIN, i16::MAX),
        ElementType::I32 => format!("an integer in {}..={}", i32::MIN, i32::MAX),
        ElementType::I64 => format!("an integer in {}..={}", i64::MIN, i64::MAX),
        ElementType::F16 => "a number within FP16's range (±65504)".to_string(),
        ElementType::Bf16 => "a number within BF16's range".to_string(),
        ElementType::F32 => "a number within FP32's range (±3.4e38)".to_string(),
        ElementType::F64 => "a number".to_string(),
        ElementType::String => "a string".to_string(),
    };
    OipError::bad_request(format!(
        "input \"{input}\": data element {index} is {}, but a {} element must be {expected}",
        short(value),
        crate::datatype_name(ty)
    ))
}

/// A tensor's elements as a flat JSON array, written straight from its bytes.
pub(crate) struct JsonData<'a>(pub &'a Tensor);

impl Serialize for JsonData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tensor = self.0;
        if let Some(strings) = tensor.strings() {
            return serializer.collect_seq(strings);
        }
        let bytes = tensor.bytes().unwrap_or_default();
        let size = tensor.ty().size().unwrap_or(1);
        let mut seq = serializer.serialize_seq(Some(bytes.len() / size))?;
        macro_rules! each {
            ($n:literal, $f:expr) => {
                for chunk in bytes.chunks_exact($n) {
                    let mut a = [0u8; $n];
                    a.copy_from_slice(chunk);
                    seq.serialize_element(&$f(a))?;
                }
            };
        }
        match tensor.ty() {
            ElementType::Bool => each!(1, |a: [u8; 1]| a[0] != 0),
            ElementType::U8 => each!(1, u8::from_le_bytes),
            ElementType::U16 => each!(2, u16::from_le_bytes),
            ElementType::U32 => each!(4, u32::from_le_bytes),
            ElementType::U64 => each!(8, u64::from_le_bytes),
            ElementType::I8 => each!(1, i8::from_le_bytes),
            ElementType::I16 => each!(2, i16::from_le_bytes),
            ElementType::I32 => each!(4, i32::from_le_bytes),
            ElementType::I64 => each!(8, i64::from_le_bytes),
            ElementType::F16 => each!(2, |a| half::f16::from_le_bytes(a).to_f32()),
            ElementType::Bf16 => each!(2, |a| half::bf16::from_le_bytes(a).to_f32()),
            ElementType::F32 => each!(4, f32::from_le_bytes),
            ElementType::F64 => each!(8, f64::from_le_bytes),
            ElementType::String => {}
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(ty: ElementType, shape: &[usize], data: Value) -> Result<Tensor, OipError> {
        tensor_from_json("x", ty, shape.to_vec(), shape.iter().product(), &data)
    }

    /// As a client reads it: written to text (f32 in its shortest form), parsed back.
    fn written(tensor: &Tensor) -> Value {
        serde_json::from_slice(&serde_json::to_vec(&JsonData(tensor)).unwrap()).unwrap()
    }

    fn round_trip(ty: ElementType, data: Value) {
        let n = data.as_array().unwrap().len();
        let tensor = decode(ty, &[n], data.clone()).unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert_eq!(written(&tensor), data, "{ty}");
    }

    #[test]
    fn every_datatype_round_trips_at_its_limits() {
        round_trip(ElementType::Bool, json!([true, false]));
        round_trip(ElementType::U8, json!([0, 255]));
        round_trip(ElementType::U16, json!([0, 65535]));
        round_trip(ElementType::U32, json!([0, 4294967295u64]));
        round_trip(ElementType::U64, json!([0, u64::MAX]));
        round_trip(ElementType::I8, json!([-128, 127]));
        round_trip(ElementType::I16, json!([-32768, 32767]));
        round_trip(ElementType::I32, json!([i32::MIN, i32::MAX]));
        round_trip(ElementType::I64, json!([i64::MIN, i64::MAX]));
        round_trip(ElementType::F16, json!([-65504.0, 0.5, 1.0]));
        round_trip(ElementType::F32, json!([1.1, -3.4e38, 0.25]));
        round_trip(ElementType::F64, json!([0.1, 1.7976931348623157e308]));
        round_trip(ElementType::String, json!(["a", "", "ünïcode"]));
    }

    #[test]
    fn bytes_are_little_endian() {
        let t = decode(ElementType::U16, &[2], json!([1, 258])).unwrap();
        assert_eq!(t.bytes().unwrap(), &[1, 0, 2, 1]);
        let t = decode(ElementType::F32, &[1], json!([3])).unwrap();
        assert_eq!(t.to_f32().unwrap(), vec![3.0]);
    }

    #[test]
    fn nested_data_must_follow_the_shape() {
        let t = decode(ElementType::I32, &[2, 2], json!([[1, 2], [4, 5]])).unwrap();
        assert_eq!(t.bytes().unwrap().len(), 16);
        assert_eq!(written(&t), json!([1, 2, 4, 5]));
        let err = decode(ElementType::I32, &[2, 2], json!([[1, 2, 3], [4]])).unwrap_err();
        assert_eq!(
            err.message,
            "input \"x\": nested data must follow shape [2, 2]: data[0] should be an array of 2 elements, got 3 \
             elements"
        );
        let err = decode(ElementType::I32, &[2], json!([[1], [2]])).unwrap_err();
        assert!(err.message.contains("data[0] is an array, but shape [2] has only 1 dimensions"), "{}", err.message);
        let err = decode(ElementType::I32, &[2, 1], json!([[1], 2])).unwrap_err();
        assert!(err.message.contains("data[1] should be an array of 1 elements, got 2"), "{}", err.message);
    }

    #[test]
    fn counts_types_and_ranges_are_checked_per_element() {
        let err = decode(ElementType::F32, &[2, 3], json!([1, 2, 3, 4, 5])).unwrap_err();
        assert_eq!(err.message, "input \"x\": shape [2, 3] has 6 elements, but data has 5");
        let err = decode(ElementType::U8, &[2], json!([1, 256])).unwrap_err();
        assert_eq!(
            err.message,
            "input \"x\": data element 1 is 256, but a UINT8 element must be an integer in 0..=255"
        );
        let err = decode(ElementType::I64, &[1], json!([1.5])).unwrap_err();
        assert!(err.message.contains("data element 0 is 1.5, but a INT64 element"), "{}", err.message);
        let err = decode(ElementType::Bool, &[1], json!([1])).unwrap_err();
        assert!(err.message.ends_with("must be true or false"), "{}", err.message);
        let err = decode(ElementType::F16, &[1], json!([70000])).unwrap_err();
        assert!(err.message.contains("FP16's range"), "{}", err.message);
        let err = decode(ElementType::F32, &[1], json!([1e39])).unwrap_err();
        assert!(err.message.contains("FP32's range"), "{}", err.message);
        let err = decode(ElementType::String, &[1], json!([1])).unwrap_err();
        assert!(err.message.ends_with("a BYTES element must be a string"), "{}", err.message);
        let err = decode(ElementType::F32, &[1], json!({"a": 1})).unwrap_err();
        assert!(err.message.contains("data must be a JSON array"), "{}", err.message);
    }

    #[test]
    fn non_finite_floats_are_written_as_null() {
        let t = Tensor::from_f32(vec![3], &[f32::NAN, f32::INFINITY, 1.0]).unwrap();
        assert_eq!(written(&t), json!([null, null, 1.0]));
    }

    #[test]
    fn empty_tensors_are_fine() {
        let t = decode(ElementType::F32, &[0, 3], json!([])).unwrap();
        assert!(t.is_empty());
        assert_eq!(written(&t), json!([]));
    }
}
