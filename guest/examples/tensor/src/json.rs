//! JSON mode: tensors as JSON numbers in, the model's outputs as JSON numbers out.

use edge_infer_guest::nn::{ElementType, Model, Tensor, element_count};
use edge_infer_guest::{Request, Response};
use half::{bf16, f16};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{LazyInfo, bad_request};

#[derive(Deserialize)]
struct InferRequest {
    inputs: Vec<Input>,
}

#[derive(Deserialize)]
struct Input {
    /// Left out: the model's input at the same position.
    name: Option<String>,
    #[serde(rename = "type")]
    ty: String,
    shape: Vec<u64>,
    /// Numbers, flat or nested in row-major order.
    data: Value,
}

#[derive(Serialize)]
struct InferResponse<'a> {
    model: &'a str,
    outputs: Vec<Output>,
}

#[derive(Serialize, Debug, PartialEq)]
pub(crate) struct Output {
    name: String,
    #[serde(rename = "type")]
    ty: &'static str,
    shape: Vec<u32>,
    data: Data,
}

/// Output elements as JSON numbers; f16 and bf16 widen to f32 (exactly). Non-finite values
/// have no JSON form and are written as `null`.
#[derive(Serialize, Debug, PartialEq)]
#[serde(untagged)]
pub(crate) enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

pub(crate) fn run(req: &Request, model: &Model, info: &mut LazyInfo<'_>) -> Result<Response, Response> {
    let body: InferRequest =
        serde_json::from_slice(&req.body).map_err(|e| bad_request(format!("request body: {e}")))?;
    if body.inputs.is_empty() {
        return Err(bad_request("request body: `inputs` is empty"));
    }
    let mut inputs = Vec::with_capacity(body.inputs.len());
    for (position, input) in body.inputs.into_iter().enumerate() {
        let name = match input.name {
            Some(name) => name,
            None => {
                let model_name = info.name;
                let declared = info.get()?.inputs.get(position).ok_or_else(|| {
                    bad_request(format!(
                        "inputs[{position}] has no name and model {model_name} has no input at that position"
                    ))
                })?;
                declared.name.clone()
            }
        };
        let tensor = tensor(&name, &input.ty, &input.shape, &input.data)?;
        inputs.push((name, tensor));
    }

    let outputs = model
        .compute(inputs)?
        .into_iter()
        .map(|(name, tensor)| output(name, &tensor))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Response::json(200, &InferResponse { model: model.name(), outputs }))
}

/// Builds one input tensor from its JSON description.
pub(crate) fn tensor(name: &str, ty: &str, shape: &[u64], data: &Value) -> Result<Tensor, Response> {
    let ty: ElementType = ty.parse().map_err(|e| bad_request(format!("input {name}: {e}")))?;
    let dims = shape
        .iter()
        .map(|&d| u32::try_from(d))
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| bad_request(format!("input {name}: shape {shape:?} has a dimension over 2^32")))?;
    let mut values = Vec::new();
    flatten(name, data, &mut values)?;
    let expected =
        element_count(&dims).ok_or_else(|| bad_request(format!("input {name}: shape {dims:?} is too large")))?;
    if values.len() != expected {
        return Err(bad_request(format!(
            "input {name}: shape {dims:?} holds {expected} elements, data has {}",
            values.len()
        )));
    }
    Ok(Tensor::new(&dims, ty, encode(name, ty, &values)?))
}

fn flatten<'v>(name: &str, data: &'v Value, into: &mut Vec<&'v Value>) -> Result<(), Response> {
    match data {
        Value::Array(items) => items.iter().try_for_each(|item| flatten(name, item, into)),
        Value::Number(_) => {
            into.push(data);
            Ok(())
        }
        other => Err(bad_request(format!("input {name}: data must hold numbers, found {other}"))),
    }
}

fn encode(name: &str, ty: ElementType, values: &[&Value]) -> Result<Vec<u8>, Response> {
    let mut out = Vec::with_capacity(values.len() * ty.size());
    for (i, value) in values.iter().enumerate() {
        let bad = || bad_request(format!("input {name}: data[{i}] = {value} is not a {ty}"));
        let float = || value.as_f64().ok_or_else(bad);
        match ty {
            ElementType::F16 => out.extend(f16::from_f64(float()?).to_le_bytes()),
            ElementType::Bf16 => out.extend(bf16::from_f64(float()?).to_le_bytes()),
            // Rounds to the nearest f32, as any JSON client of an f32 model expects.
            #[allow(clippy::cast_possible_truncation)]
            ElementType::F32 => out.extend((float()? as f32).to_le_bytes()),
            ElementType::F64 => out.extend(float()?.to_le_bytes()),
            ElementType::U8 => {
                let v = value.as_u64().and_then(|v| u8::try_from(v).ok());
                out.push(v.ok_or_else(bad)?);
            }
            ElementType::I32 => {
                let v = value.as_i64().and_then(|v| i32::try_from(v).ok());
                out.extend(v.ok_or_else(bad)?.to_le_bytes());
            }
            ElementType::I64 => out.extend(value.as_i64().ok_or_else(bad)?.to_le_bytes()),
        }
    }
    Ok(out)
}

/// Turns one output tensor into its JSON description.
pub(crate) fn output(name: String, tensor: &Tensor) -> Result<Output, Response> {
    let ty = tensor.ty();
    let bytes = tensor.data();
    if Some(bytes.len()) != Tensor::byte_len(tensor.dims(), ty) {
        return Err(Response::error(
            500,
            "bad_output",
            format!("output {name}: {} bytes do not fit shape {:?} of {ty}", bytes.len(), tensor.dims()),
        ));
    }
    let data = match ty {
        ElementType::F16 => Data::F32(elements(bytes, |b: [u8; 2]| f16::from_le_bytes(b).to_f32())),
        ElementType::Bf16 => Data::F32(elements(bytes, |b: [u8; 2]| bf16::from_le_bytes(b).to_f32())),
        ElementType::F32 => Data::F32(elements(bytes, f32::from_le_bytes)),
        ElementType::F64 => Data::F64(elements(bytes, f64::from_le_bytes)),
        ElementType::U8 => Data::U8(bytes.to_vec()),
        ElementType::I32 => Data::I32(elements(bytes, i32::from_le_bytes)),
        ElementType::I64 => Data::I64(elements(bytes, i64::from_le_bytes)),
    };
    Ok(Output { name, ty: ty.name(), shape: tensor.dims().to_vec(), data })
}

#[cfg(test)]
impl Output {
    pub(crate) fn data_for_test(&self) -> &Data {
        &self.data
    }
}

fn elements<const N: usize, T>(bytes: &[u8], read: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|chunk| read(chunk.try_into().expect("chunks_exact gives N bytes"))).collect()
}
