//! What a model takes and returns, beyond what `wasi:nn` can say (`edge:infer/models`).
//!
//! `wasi:nn` has no way to ask a model for its input names, free dimensions or metadata, and a
//! generic endpoint needs all three: the first input's name to feed it, the labels an ONNX file
//! carries in its `metadata_props`. [`info`] answers by the same names [`Model::load`](crate::nn::Model::load) takes.

use std::fmt;

use crate::bindings::edge::infer::models as wit;
use crate::http::Response;
use crate::nn;

/// The element type of a model's input or output: the ONNX numeric set and strings.
/// Only the seven that [`nn::ElementType`] has can cross `wasi:nn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the names say it
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
    /// The lower-case name: `f32`, `u16`, `bool`, `string`, …
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F16 => "f16",
            ElementType::Bf16 => "bf16",
            ElementType::F32 => "f32",
            ElementType::F64 => "f64",
            ElementType::I8 => "i8",
            ElementType::I16 => "i16",
            ElementType::I32 => "i32",
            ElementType::I64 => "i64",
            ElementType::U8 => "u8",
            ElementType::U16 => "u16",
            ElementType::U32 => "u32",
            ElementType::U64 => "u64",
            ElementType::Bool => "bool",
            ElementType::String => "string",
        }
    }

    /// The `wasi:nn` type of the same name, if `wasi:nn` has one.
    pub fn to_nn(self) -> Option<nn::ElementType> {
        Some(match self {
            ElementType::F16 => nn::ElementType::F16,
            ElementType::Bf16 => nn::ElementType::Bf16,
            ElementType::F32 => nn::ElementType::F32,
            ElementType::F64 => nn::ElementType::F64,
            ElementType::U8 => nn::ElementType::U8,
            ElementType::I32 => nn::ElementType::I32,
            ElementType::I64 => nn::ElementType::I64,
            _ => return None,
        })
    }

    fn from_wit(ty: wit::ElementType) -> ElementType {
        match ty {
            wit::ElementType::F16 => ElementType::F16,
            wit::ElementType::Bf16 => ElementType::Bf16,
            wit::ElementType::F32 => ElementType::F32,
            wit::ElementType::F64 => ElementType::F64,
            wit::ElementType::I8 => ElementType::I8,
            wit::ElementType::I16 => ElementType::I16,
            wit::ElementType::I32 => ElementType::I32,
            wit::ElementType::I64 => ElementType::I64,
            wit::ElementType::U8 => ElementType::U8,
            wit::ElementType::U16 => ElementType::U16,
            wit::ElementType::U32 => ElementType::U32,
            wit::ElementType::U64 => ElementType::U64,
            wit::ElementType::Boolean => ElementType::Bool,
            wit::ElementType::String => ElementType::String,
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One input or output of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The name `compute` matches it by.
    pub name: String,
    /// Its element type.
    pub element_type: ElementType,
    /// One entry per axis; `None` is a free dimension (a batch, an image size, a sequence length).
    pub dims: Vec<Option<u64>>,
}

impl TensorInfo {
    /// The dims if none is free.
    pub fn fixed_dims(&self) -> Option<Vec<u64>> {
        self.dims.iter().copied().collect()
    }
}

/// What a model takes and returns, and the `metadata_props` of its ONNX file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelInfo {
    /// The inputs, in the model's order.
    pub inputs: Vec<TensorInfo>,
    /// The outputs, in the model's order.
    pub outputs: Vec<TensorInfo>,
    /// Key–value metadata: labels, character sets, pre-processing hints.
    pub metadata: Vec<(String, String)>,
}

impl ModelInfo {
    /// The metadata value under `key`, if any.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Why [`info`] found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelsError {
    /// No model of that name (alias or tenant model) is visible to this endpoint.
    NotFound(String),
    /// The model exists but could not be loaded on this node.
    Unavailable(String),
}

impl ModelsError {
    /// The host's message.
    pub fn message(&self) -> &str {
        match self {
            ModelsError::NotFound(m) | ModelsError::Unavailable(m) => m,
        }
    }
}

impl fmt::Display for ModelsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelsError::NotFound(m) => write!(f, "model not found: {m}"),
            ModelsError::Unavailable(m) => write!(f, "model unavailable: {m}"),
        }
    }
}

impl std::error::Error for ModelsError {}

impl From<ModelsError> for Response {
    /// `not_found` is the caller's doing: 400 `model_not_found`, as a `wasi:nn` `not-found` is;
    /// `unavailable` is the node's: 503 `model_unavailable`.
    fn from(e: ModelsError) -> Response {
        match e {
            ModelsError::NotFound(m) => Response::error(400, "model_not_found", m),
            ModelsError::Unavailable(m) => Response::error(503, "model_unavailable", m),
        }
    }
}

/// Looks a model up by the name [`Model::load`](crate::nn::Model::load) takes.
pub fn info(name: &str) -> Result<ModelInfo, ModelsError> {
    let info = wit::info(name).map_err(|e| match e {
        wit::Error::NotFound(m) => ModelsError::NotFound(m),
        wit::Error::Unavailable(m) => ModelsError::Unavailable(m),
    })?;
    let tensors = |list: Vec<wit::TensorInfo>| {
        list.into_iter()
            .map(|t| TensorInfo { name: t.name, element_type: ElementType::from_wit(t.element_type), dims: t.dims })
            .collect()
    };
    Ok(ModelInfo { inputs: tensors(info.inputs), outputs: tensors(info.outputs), metadata: info.metadata })
}
