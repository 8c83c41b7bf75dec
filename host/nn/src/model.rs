//! What a model declares about itself: its inputs and outputs (names, element types, dimensions, free ones
//! included) and the `metadata_props` of its ONNX file.

use crate::ElementType;
use std::collections::BTreeMap;
use std::fmt;

/// One axis of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A free dimension (a batch, an image side, a sequence length), with the name the file gave it.
    Free(Option<String>),
}

impl Dim {
    /// The fixed size, or `None` for a free dimension.
    pub fn fixed(&self) -> Option<u64> {
        match self {
            Dim::Fixed(n) => Some(*n),
            Dim::Free(_) => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Free(Some(name)) => f.write_str(name),
            Dim::Free(None) => f.write_str("?"),
        }
    }
}

/// One declared input or output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TensorSpec {
    /// The name inputs are matched by.
    pub name: String,
    /// The element type.
    pub ty: ElementType,
    /// The shape, free dimensions kept.
    pub dims: Vec<Dim>,
}

impl TensorSpec {
    /// Formats the declared shape as `[N, 3, 224, 224]`.
    pub fn shape_display(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(|d| d.to_string()).collect();
        format!("[{}]", dims.join(", "))
    }
}

/// A model's declared interface and metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    /// The inputs, in the model's order.
    pub inputs: Vec<TensorSpec>,
    /// The outputs, in the model's order.
    pub outputs: Vec<TensorSpec>,
    /// The ONNX `metadata_props` (labels, character sets, …).
    pub metadata: BTreeMap<String, String>,
}
