//! Tensors as they cross the node: an element type, a shape, and the elements as little-endian bytes.
//!
//! Bytes are the common currency of every edge: `wasi:nn` hands the host a `list<u8>`, the Open Inference
//! Protocol's binary extension sends raw bytes. They are copied once into an aligned buffer
//! ([`Elements`]) that the backends read in place or take as they are: no per-element conversion, and no
//! second copy on the way to tract.

use crate::NnError;
use crate::elements::Elements;
use std::fmt;

// Elements are little-endian bytes, and the backends read them as native values in place.
#[cfg(not(target_endian = "little"))]
compile_error!("edge-infer runs on little-endian hosts only");

/// Element types of the node: the ONNX numeric set, plus strings for the Open Inference Protocol's `BYTES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum ElementType {
    F16,
    Bf16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    String,
}

impl ElementType {
    /// Every element type, in a stable order.
    pub const ALL: [ElementType; 14] = [
        Self::F16,
        Self::Bf16,
        Self::F32,
        Self::F64,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::U8,
        Self::U16,
        Self::U32,
        Self::U64,
        Self::Bool,
        Self::String,
    ];

    /// Bytes per element; `None` for strings, which have no fixed width.
    pub fn size(self) -> Option<usize> {
        Some(match self {
            Self::Bool | Self::I8 | Self::U8 => 1,
            Self::F16 | Self::Bf16 | Self::I16 | Self::U16 => 2,
            Self::F32 | Self::I32 | Self::U32 => 4,
            Self::F64 | Self::I64 | Self::U64 => 8,
            Self::String => return None,
        })
    }

    /// The lowercase name used in messages and JSON (`f32`, `bool`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::Bool => "bool",
            Self::String => "string",
        }
    }

    /// The element type of an ONNX `TensorProto.DataType` code, if the node supports it.
    pub fn from_onnx(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::F32,
            2 => Self::U8,
            3 => Self::I8,
            4 => Self::U16,
            5 => Self::I16,
            6 => Self::I32,
            7 => Self::I64,
            8 => Self::String,
            9 => Self::Bool,
            10 => Self::F16,
            11 => Self::F64,
            12 => Self::U32,
            13 => Self::U64,
            16 => Self::Bf16,
            _ => return None,
        })
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dense tensor. Numeric elements are little-endian bytes in row-major order; strings are kept as strings.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    ty: ElementType,
    shape: Vec<usize>,
    data: TensorData,
}

#[derive(Debug, Clone, PartialEq)]
enum TensorData {
    Bytes(Elements),
    Strings(Vec<String>),
}

impl Tensor {
    /// A numeric tensor from its little-endian bytes, copied once; the byte length must match the shape.
    pub fn from_bytes(ty: ElementType, shape: Vec<usize>, bytes: impl AsRef<[u8]>) -> Result<Self, NnError> {
        let bytes = bytes.as_ref();
        Self::check_bytes(ty, &shape, bytes)?;
        Ok(Self { ty, shape, data: TensorData::Bytes(Elements::copied_from(bytes)) })
    }

    /// A numeric tensor over `elements` as they are; the byte length must match the shape.
    pub(crate) fn from_elements(ty: ElementType, shape: Vec<usize>, elements: Elements) -> Result<Self, NnError> {
        Self::check_bytes(ty, &shape, elements.as_bytes())?;
        Ok(Self { ty, shape, data: TensorData::Bytes(elements) })
    }

    fn check_bytes(ty: ElementType, shape: &[usize], bytes: &[u8]) -> Result<(), NnError> {
        let Some(size) = ty.size() else {
            return Err(NnError::invalid("string tensors are built from strings, not bytes"));
        };
        let expected = element_count(shape)
            .and_then(|n| n.checked_mul(size))
            .ok_or_else(|| NnError::invalid(format!("shape {} is too large", ShapeDisplay(shape))))?;
        if bytes.len() != expected {
            return Err(NnError::invalid(format!(
                "a {ty} tensor of shape {} needs {expected} bytes, got {}",
                ShapeDisplay(shape),
                bytes.len()
            )));
        }
        if ty == ElementType::Bool && bytes.iter().any(|&b| b > 1) {
            return Err(NnError::invalid("a bool tensor's elements are single bytes 0 (false) or 1 (true)"));
        }
        Ok(())
    }

    /// A string tensor; the number of strings must match the shape.
    pub fn from_strings(shape: Vec<usize>, strings: Vec<String>) -> Result<Self, NnError> {
        if element_count(&shape) != Some(strings.len()) {
            return Err(NnError::invalid(format!(
                "a string tensor of shape {} needs {} elements, got {}",
                ShapeDisplay(&shape),
                element_count(&shape).unwrap_or(usize::MAX),
                strings.len()
            )));
        }
        Ok(Self { ty: ElementType::String, shape, data: TensorData::Strings(strings) })
    }

    /// A tensor of `f32` values, for tests and examples.
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Result<Self, NnError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::from_bytes(ElementType::F32, shape, bytes)
    }

    /// The element type.
    pub fn ty(&self) -> ElementType {
        self.ty
    }

    /// The shape, outermost axis first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The elements as little-endian bytes; `None` for a string tensor.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            TensorData::Bytes(b) => Some(b.as_bytes()),
            TensorData::Strings(_) => None,
        }
    }

    /// The elements of a string tensor; `None` for a numeric one.
    pub fn strings(&self) -> Option<&[String]> {
        match &self.data {
            TensorData::Strings(s) => Some(s),
            TensorData::Bytes(_) => None,
        }
    }

    /// Takes the elements out without copying; `None` for a string tensor.
    pub(crate) fn into_elements(self) -> Option<Elements> {
        match self.data {
            TensorData::Bytes(b) => Some(b),
            TensorData::Strings(_) => None,
        }
    }

    /// Decodes an `f32` tensor's elements, for tests and examples.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        if self.ty != ElementType::F32 {
            return None;
        }
        let bytes = self.bytes()?;
        Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        element_count(&self.shape).unwrap_or(0)
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Formats a concrete shape as `[1, 3, 224, 224]`.
pub(crate) struct ShapeDisplay<'a>(pub &'a [usize]);

impl fmt::Display for ShapeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_length_must_match_shape() {
        let err = Tensor::from_bytes(ElementType::F32, vec![2, 2], vec![0; 15]).unwrap_err();
        assert_eq!(err.message, "a f32 tensor of shape [2, 2] needs 16 bytes, got 15");
        assert!(Tensor::from_bytes(ElementType::F32, vec![2, 2], vec![0; 16]).is_ok());
    }

    #[test]
    fn bool_bytes_are_zero_or_one() {
        let err = Tensor::from_bytes(ElementType::Bool, vec![3], vec![0, 1, 2]).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::InvalidArgument);
        assert!(err.message.contains("0 (false) or 1 (true)"), "{err}");
        assert!(Tensor::from_bytes(ElementType::Bool, vec![3], vec![0, 1, 1]).is_ok());
        assert!(Tensor::from_bytes(ElementType::U8, vec![3], vec![0, 1, 2]).is_ok());
    }

    #[test]
    fn overflowing_shapes_are_an_error_not_a_panic() {
        let err = Tensor::from_bytes(ElementType::F64, vec![usize::MAX, 2], vec![]).unwrap_err();
        assert!(err.message.contains("too large"), "{err}");
    }

    #[test]
    fn onnx_codes_map_to_element_types() {
        assert_eq!(ElementType::from_onnx(1), Some(ElementType::F32));
        assert_eq!(ElementType::from_onnx(16), Some(ElementType::Bf16));
        assert_eq!(ElementType::from_onnx(14), None); // complex64
    }
}
