//! The inference request JSON object (`$inference_request`), as sent. Fields are read leniently here — a
//! missing field or an unknown one (KServe clients add `model_name`) is not a parse error — so that
//! [`crate::decode_request`] can say exactly which input lacks what, instead of a line and column.

use crate::Parameters;
use serde_json::Value;

/// `$inference_request`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InferenceRequest {
    /// An identifier the response must echo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request parameters (`binary_data_output`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// The input tensors.
    #[serde(default)]
    pub inputs: Vec<RequestInput>,
    /// The outputs wanted, or `None` for all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestOutput>>,
}

/// `$request_input`: one input tensor.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestInput {
    /// The model input it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The shape; each dimension a non-negative integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<Value>>,
    /// The datatype (`FP32`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    /// Input parameters (`binary_data_size`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// The elements, flat or nested, row-major; absent when they come as binary data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// `$request_output`: one output wanted.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestOutput {
    /// The model output's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Output parameters (`binary_data`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_spec_example_parses_and_unknown_fields_are_ignored() {
        let body = json!({
            "id": "42",
            "model_name": "mymodel",
            "inputs": [
                {"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
                {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [true, false, true]}
            ],
            "outputs": [{"name": "output0"}]
        });
        let request: InferenceRequest = serde_json::from_value(body).unwrap();
        assert_eq!(request.id.as_deref(), Some("42"));
        assert_eq!(request.inputs.len(), 2);
        assert_eq!(request.inputs[0].shape, Some(vec![json!(2), json!(2)]));
        assert_eq!(request.outputs.unwrap()[0].name.as_deref(), Some("output0"));
    }
}
