//! What the server and a model say about themselves: server metadata (name, version, extensions), model
//! metadata (versions, platform, inputs and outputs with datatype and shape, `-1` for a free dimension),
//! and the health answers.

use crate::datatype_name;
use edge_infer_nn::{Dim, ModelInfo, TensorSpec};

/// The platform every model of this node reports: they are all ONNX files.
pub const PLATFORM: &str = "onnx";

/// The protocol extensions this node implements, as Triton names them.
pub const EXTENSIONS: [&str; 1] = ["binary_tensor_data"];

/// `$metadata_server_response`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerMetadata {
    /// The server's name.
    pub name: String,
    /// The server's version.
    pub version: String,
    /// The extensions it implements.
    pub extensions: Vec<String>,
}

impl ServerMetadata {
    /// The metadata of server `name` at `version`, with this crate's [`EXTENSIONS`].
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            extensions: EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        }
    }
}

/// `$metadata_tensor`: one input or output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MetadataTensor {
    /// Its name.
    pub name: String,
    /// Its datatype (`FP32`, …).
    pub datatype: String,
    /// Its shape; `-1` for a dimension of any size.
    pub shape: Vec<i64>,
}

impl From<&TensorSpec> for MetadataTensor {
    fn from(spec: &TensorSpec) -> Self {
        let shape = spec
            .dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => i64::try_from(*n).unwrap_or(i64::MAX),
                Dim::Free(_) => -1,
            })
            .collect();
        Self { name: spec.name.clone(), datatype: datatype_name(spec.ty).to_string(), shape }
    }
}

/// `$metadata_model_response`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelMetadata {
    /// The model's name.
    pub name: String,
    /// The versions a request may name.
    pub versions: Vec<String>,
    /// The framework: [`PLATFORM`].
    pub platform: String,
    /// The inputs the model takes.
    pub inputs: Vec<MetadataTensor>,
    /// The outputs it produces.
    pub outputs: Vec<MetadataTensor>,
}

impl ModelMetadata {
    /// The metadata of model `name` with its `versions`, as `info` declares it.
    pub fn new(name: &str, versions: impl IntoIterator<Item = u32>, info: &ModelInfo) -> Self {
        Self {
            name: name.to_string(),
            versions: versions.into_iter().map(|v| v.to_string()).collect(),
            platform: PLATFORM.to_string(),
            inputs: info.inputs.iter().map(MetadataTensor::from).collect(),
            outputs: info.outputs.iter().map(MetadataTensor::from).collect(),
        }
    }
}

/// `$ready_model_response`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelReady {
    /// The model's name.
    pub name: String,
    /// Whether it can serve inference requests now.
    pub ready: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_infer_nn::ElementType;
    use serde_json::json;

    #[test]
    fn free_dimensions_are_minus_one_and_types_use_protocol_names() {
        let info = ModelInfo {
            inputs: vec![TensorSpec {
                name: "x".into(),
                ty: ElementType::F32,
                dims: vec![Dim::Free(Some("N".into())), Dim::Fixed(3), Dim::Free(None)],
            }],
            outputs: vec![TensorSpec { name: "y".into(), ty: ElementType::I64, dims: vec![Dim::Fixed(4)] }],
            ..ModelInfo::default()
        };
        let metadata = ModelMetadata::new("m", [1, 2], &info);
        assert_eq!(
            serde_json::to_value(&metadata).unwrap(),
            json!({
                "name": "m", "versions": ["1", "2"], "platform": "onnx",
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3, -1]}],
                "outputs": [{"name": "y", "datatype": "INT64", "shape": [4]}]
            })
        );
    }

    #[test]
    fn the_server_lists_the_binary_extension() {
        let server = ServerMetadata::new("edge-infer", "0.1.0");
        assert_eq!(server.extensions, ["binary_tensor_data"]);
    }
}
