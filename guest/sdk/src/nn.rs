//! Models through `wasi:nn`: load one by name, run it on tensors.
//!
//! The names a guest can load are the endpoint's aliases and its tenant's models; the node loads
//! and optimises each model once and shares it, so [`Model::load`] is cheap and may be called on
//! every request. Data crosses into the host once per input and back once per output.

use std::fmt;
use std::str::FromStr;

use crate::bindings::wasi::nn::errors::{Error as WitError, ErrorCode as WitErrorCode};
use crate::bindings::wasi::nn::graph::{Graph, load_by_name};
use crate::bindings::wasi::nn::tensor::{Tensor as WitTensor, TensorType};
use crate::http::Response;

/// The element types a `wasi:nn` tensor can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// IEEE 754 half precision.
    F16,
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 double precision.
    F64,
    /// bfloat16.
    Bf16,
    /// Unsigned byte.
    U8,
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer.
    I64,
}

impl ElementType {
    /// Every element type, in `wasi:nn` order.
    pub const ALL: [ElementType; 7] = [
        ElementType::F16,
        ElementType::F32,
        ElementType::F64,
        ElementType::Bf16,
        ElementType::U8,
        ElementType::I32,
        ElementType::I64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElementType::U8 => 1,
            ElementType::F16 | ElementType::Bf16 => 2,
            ElementType::F32 | ElementType::I32 => 4,
            ElementType::F64 | ElementType::I64 => 8,
        }
    }

    /// The lower-case name: `f16`, `f32`, `f64`, `bf16`, `u8`, `i32`, `i64`. [`FromStr`] reads it back.
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F16 => "f16",
            ElementType::F32 => "f32",
            ElementType::F64 => "f64",
            ElementType::Bf16 => "bf16",
            ElementType::U8 => "u8",
            ElementType::I32 => "i32",
            ElementType::I64 => "i64",
        }
    }

    fn from_wit(ty: TensorType) -> ElementType {
        match ty {
            TensorType::Fp16 => ElementType::F16,
            TensorType::Fp32 => ElementType::F32,
            TensorType::Fp64 => ElementType::F64,
            TensorType::Bf16 => ElementType::Bf16,
            TensorType::U8 => ElementType::U8,
            TensorType::I32 => ElementType::I32,
            TensorType::I64 => ElementType::I64,
        }
    }

    fn to_wit(self) -> TensorType {
        match self {
            ElementType::F16 => TensorType::Fp16,
            ElementType::F32 => TensorType::Fp32,
            ElementType::F64 => TensorType::Fp64,
            ElementType::Bf16 => TensorType::Bf16,
            ElementType::U8 => TensorType::U8,
            ElementType::I32 => TensorType::I32,
            ElementType::I64 => TensorType::I64,
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an [`ElementType`] from a name it does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownElementType(pub String);

impl fmt::Display for UnknownElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown tensor type {:?}: expected one of f16, f32, f64, bf16, u8, i32, i64", self.0)
    }
}

impl std::error::Error for UnknownElementType {}

impl FromStr for ElementType {
    type Err = UnknownElementType;

    /// Reads the names [`ElementType::name`] writes, in any case.
    fn from_str(s: &str) -> Result<ElementType, UnknownElementType> {
        ElementType::ALL
            .into_iter()
            .find(|ty| ty.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownElementType(s.to_owned()))
    }
}

/// A dense, row-major tensor: its dimensions, element type and little-endian element bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    dims: Vec<u32>,
    ty: ElementType,
    data: Vec<u8>,
}

impl Tensor {
    /// A tensor of `dims` and `ty` over `data`, the elements' little-endian bytes in row-major
    /// order. The host checks that `data` is as long as the dims say (see [`Tensor::byte_len`]);
    /// check first to give your caller a better message.
    pub fn new(dims: &[u32], ty: ElementType, data: Vec<u8>) -> Tensor {
        Tensor { dims: dims.to_vec(), ty, data }
    }

    /// An `f32` tensor of `dims` over `values`.
    pub fn from_f32(dims: &[u32], values: &[f32]) -> Tensor {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(dims, ElementType::F32, data)
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[u32] {
        &self.dims
    }

    /// The element type.
    pub fn ty(&self) -> ElementType {
        self.ty
    }

    /// The element bytes, little-endian, row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The element bytes, taken out of the tensor.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// How many elements the dims hold (1 for no dims), or `None` if that overflows.
    pub fn element_count(&self) -> Option<usize> {
        element_count(&self.dims)
    }

    /// How many bytes `dims` of `ty` take, or `None` if that overflows.
    pub fn byte_len(dims: &[u32], ty: ElementType) -> Option<usize> {
        element_count(dims)?.checked_mul(ty.size())
    }

    /// The elements as `f32`s if this is an `f32` tensor.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        (self.ty == ElementType::F32)
            .then(|| self.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

/// How many elements a tensor of `dims` holds (1 for no dims), or `None` if that overflows.
pub fn element_count(dims: &[u32]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))
}

/// A model, loaded by name.
///
/// Each [`compute`](Model::compute) opens its own execution context, so calls never see each
/// other's state; on edge-infer a context is only a handle on a shared, already optimised model,
/// which makes that cheap.
#[derive(Debug)]
pub struct Model {
    name: String,
    graph: Graph,
}

impl Model {
    /// Loads the model `name`: an alias of this endpoint or a model of its tenant
    /// (`wasi:nn/graph.load-by-name`).
    pub fn load(name: &str) -> Result<Model, NnError> {
        let graph = load_by_name(name).map_err(NnError::from_wit)?;
        Ok(Model { name: name.to_owned(), graph })
    }

    /// The name this model was loaded by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the model once. Inputs are matched by name ([`models::info`](crate::models::info)
    /// lists them); outputs come back named, in the order the model declares them.
    pub fn compute(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>, NnError> {
        let context = self.graph.init_execution_context().map_err(NnError::from_wit)?;
        let inputs =
            inputs.into_iter().map(|(name, t)| (name, WitTensor::new(&t.dims, t.ty.to_wit(), &t.data))).collect();
        let outputs = context.compute(inputs).map_err(NnError::from_wit)?;
        Ok(outputs
            .into_iter()
            .map(|(name, t)| {
                let tensor = Tensor { dims: t.dimensions(), ty: ElementType::from_wit(t.ty()), data: t.data() };
                (name, tensor)
            })
            .collect())
    }
}

/// What kind of `wasi:nn` failure an [`NnError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NnErrorCode {
    /// The guest passed something wrong: an unknown input, a wrong shape or type.
    InvalidArgument,
    /// The model's encoding is not understood.
    InvalidEncoding,
    /// The operation ran out of time.
    Timeout,
    /// The backend failed while running.
    RuntimeError,
    /// The backend cannot do this (an element type or operator it lacks).
    UnsupportedOperation,
    /// The model or a tensor is too large.
    TooLarge,
    /// No model of that name is visible to this endpoint.
    NotFound,
    /// Not allowed.
    Security,
    /// Anything else.
    Unknown,
}

impl NnErrorCode {
    /// The snake-case name: `invalid_argument`, `not_found`, …
    pub fn name(self) -> &'static str {
        match self {
            NnErrorCode::InvalidArgument => "invalid_argument",
            NnErrorCode::InvalidEncoding => "invalid_encoding",
            NnErrorCode::Timeout => "timeout",
            NnErrorCode::RuntimeError => "runtime_error",
            NnErrorCode::UnsupportedOperation => "unsupported_operation",
            NnErrorCode::TooLarge => "too_large",
            NnErrorCode::NotFound => "not_found",
            NnErrorCode::Security => "security",
            NnErrorCode::Unknown => "unknown",
        }
    }

    fn from_wit(code: WitErrorCode) -> NnErrorCode {
        match code {
            WitErrorCode::InvalidArgument => NnErrorCode::InvalidArgument,
            WitErrorCode::InvalidEncoding => NnErrorCode::InvalidEncoding,
            WitErrorCode::Timeout => NnErrorCode::Timeout,
            WitErrorCode::RuntimeError => NnErrorCode::RuntimeError,
            WitErrorCode::UnsupportedOperation => NnErrorCode::UnsupportedOperation,
            WitErrorCode::TooLarge => NnErrorCode::TooLarge,
            WitErrorCode::NotFound => NnErrorCode::NotFound,
            WitErrorCode::Security => NnErrorCode::Security,
            WitErrorCode::Unknown => NnErrorCode::Unknown,
        }
    }
}

impl fmt::Display for NnErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `wasi:nn` error: its code and the host's message (`data()`), which says what was wrong —
/// which input, the expected and given shape or type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NnError {
    /// What kind of failure.
    pub code: NnErrorCode,
    /// The host's explanation, verbatim.
    pub message: String,
}

impl NnError {
    fn from_wit(error: WitError) -> NnError {
        NnError { code: NnErrorCode::from_wit(error.code()), message: error.data() }
    }

    /// The HTTP status this error maps to: 400 when the request was at fault
    /// (`invalid_argument`, `unsupported_operation`, `not_found`), 500 otherwise.
    pub fn http_status(&self) -> u16 {
        match self.code {
            NnErrorCode::InvalidArgument | NnErrorCode::UnsupportedOperation | NnErrorCode::NotFound => 400,
            _ => 500,
        }
    }
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasi:nn {}: {}", self.code, self.message)
    }
}

impl std::error::Error for NnError {}

impl From<NnError> for Response {
    /// [`NnError::http_status`] with code `nn_{code}` (`nn_invalid_argument`) and the host's
    /// message as it is, so the caller learns what the model expected.
    fn from(e: NnError) -> Response {
        Response::error(e.http_status(), &format!("nn_{}", e.code), &e.message)
    }
}
