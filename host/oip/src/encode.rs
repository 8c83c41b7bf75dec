//! From a model's outputs to the inference response: the outputs asked for, in the order asked, each as
//! JSON `data` or — with the binary tensor data extension — as raw bytes after the JSON, announced by its
//! `binary_data_size` parameter; the request's `id` echoed, and the model's name and version.

use crate::binary::tensor_to_binary;
use crate::decode::OutputChoice;
use crate::json_data::JsonData;
use crate::{OipError, Parameters, datatype_name};
use edge_infer_nn::Tensor;

/// A response body, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedResponse {
    /// The JSON object, followed by any binary tensor data.
    pub body: Vec<u8>,
    /// The JSON's length when binary data follows it: the value of `Inference-Header-Content-Length`.
    /// `None` when the body is JSON only.
    pub json_length: Option<usize>,
}

impl EncodedResponse {
    /// The `Content-Type` for the body: JSON alone, or JSON followed by bytes.
    pub fn content_type(&self) -> &'static str {
        if self.json_length.is_some() { "application/octet-stream" } else { "application/json" }
    }
}

/// `$inference_response`.
#[derive(serde::Serialize)]
struct InferenceResponse<'a> {
    model_name: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<ResponseOutput<'a>>,
}

/// `$response_output`.
#[derive(serde::Serialize)]
struct ResponseOutput<'a> {
    name: &'a str,
    shape: &'a [usize],
    datatype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<JsonData<'a>>,
}

/// Encodes the response to a request with `id`, answered by version `model_version` of `model_name`, with
/// the `choices` made by [`crate::DecodedRequest::check`] over the model's named `outputs`.
pub fn encode_response(
    model_name: &str,
    model_version: &str,
    id: Option<&str>,
    choices: &[OutputChoice],
    outputs: &[(String, Tensor)],
) -> Result<EncodedResponse, OipError> {
    let mut binary = Vec::new();
    let mut any_binary = false;
    let mut listed = Vec::with_capacity(choices.len());
    for choice in choices {
        let (name, tensor) = outputs
            .iter()
            .find(|(n, _)| *n == choice.name)
            .ok_or_else(|| OipError::internal(format!("the model did not return its output \"{}\"", choice.name)))?;
        let (parameters, data) = if choice.binary {
            let bytes = tensor_to_binary(tensor);
            let parameters = Parameters::with("binary_data_size", bytes.len());
            binary.extend_from_slice(&bytes);
            any_binary = true;
            (Some(parameters), None)
        } else {
            (None, Some(JsonData(tensor)))
        };
        listed.push(ResponseOutput {
            name,
            shape: tensor.shape(),
            datatype: datatype_name(tensor.ty()),
            parameters,
            data,
        });
    }
    let response = InferenceResponse { model_name, model_version, id, outputs: listed };
    let mut body = serde_json::to_vec(&response)
        .map_err(|e| OipError::internal(format!("the response could not be written as JSON: {e}")))?;
    if !any_binary {
        return Ok(EncodedResponse { body, json_length: None });
    }
    let json_length = body.len();
    body.extend_from_slice(&binary);
    Ok(EncodedResponse { body, json_length: Some(json_length) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn outputs() -> Vec<(String, Tensor)> {
        vec![
            ("y".into(), Tensor::from_f32(vec![3, 2], &[1.0, 1.1, 2.0, 2.1, 3.0, 3.1]).unwrap()),
            ("labels".into(), Tensor::from_strings(vec![2], vec!["cat".into(), "dog".into()]).unwrap()),
        ]
    }

    fn choice(name: &str, binary: bool) -> OutputChoice {
        OutputChoice { name: name.into(), binary }
    }

    #[test]
    fn json_outputs_match_the_spec_example() {
        let encoded = encode_response("mymodel", "1", Some("42"), &[choice("y", false)], &outputs()).unwrap();
        assert_eq!(encoded.json_length, None);
        assert_eq!(encoded.content_type(), "application/json");
        let body: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(
            body,
            json!({
                "model_name": "mymodel", "model_version": "1", "id": "42",
                "outputs": [{"name": "y", "shape": [3, 2], "datatype": "FP32", "data": [1.0, 1.1, 2.0, 2.1, 3.0, 3.1]}]
            })
        );
    }

    #[test]
    fn binary_outputs_follow_the_json_in_the_listed_order() {
        let choices = [choice("labels", true), choice("y", true)];
        let encoded = encode_response("m", "2", None, &choices, &outputs()).unwrap();
        let length = encoded.json_length.unwrap();
        assert_eq!(encoded.content_type(), "application/octet-stream");
        let body: Value = serde_json::from_slice(&encoded.body[..length]).unwrap();
        assert_eq!(body.get("id"), None);
        assert_eq!(
            body["outputs"][0],
            json!({"name": "labels", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 14}})
        );
        assert_eq!(body["outputs"][1]["parameters"]["binary_data_size"], 24);
        let rest = &encoded.body[length..];
        assert_eq!(rest.len(), 14 + 24);
        assert_eq!(&rest[..7], &[3, 0, 0, 0, b'c', b'a', b't']);
        assert_eq!(&rest[14..18], &1.0f32.to_le_bytes());
    }

    #[test]
    fn a_missing_output_is_the_nodes_error() {
        let err = encode_response("m", "1", None, &[choice("nope", false)], &outputs()).unwrap_err();
        assert_eq!(err.status, http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}
