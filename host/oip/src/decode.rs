//! From a request body to named tensors: parse the JSON, read each input's elements from its `data` or from
//! its slice of the binary data, and note which outputs are wanted and how. Then, against the model's
//! declared interface, check what only the protocol knows (datatype names, output names) before any
//! inference runs; shapes and the rest are checked by the inference layer as for every other caller.

use crate::binary::{BinaryCursor, split_body, tensor_from_binary};
use crate::datatype::input_element_type;
use crate::json_data::tensor_from_json;
use crate::{InferenceRequest, OipError, Parameters, datatype_name};
use edge_infer_nn::{ModelInfo, Tensor};
use serde_json::Value;

/// An inference request, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The request's `id`, to echo.
    pub id: Option<String>,
    /// The inputs, named, in the request's order.
    pub inputs: Vec<(String, Tensor)>,
    /// The outputs asked for, each with its own `binary_data` if it had one; `None` for all outputs.
    requested: Option<Vec<(String, Option<bool>)>>,
    /// The request's `binary_data_output`: whether outputs without their own choice come as binary data.
    binary_output: bool,
}

/// One output to answer with, and whether as binary data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChoice {
    /// The output's name.
    pub name: String,
    /// Whether its elements go in the binary part of the answer instead of JSON `data`.
    pub binary: bool,
}

/// Decodes a request body. `header` is the `Inference-Header-Content-Length` value, if the request had one.
pub fn decode_request(body: &[u8], header: Option<&str>) -> Result<DecodedRequest, OipError> {
    let (json, binary) = split_body(body, header)?;
    let request: InferenceRequest = serde_json::from_slice(json).map_err(|e| {
        OipError::bad_request(format!(
            "the request body is not an inference request object ({{\"inputs\": [{{\"name\", \"shape\", \
             \"datatype\", \"data\"}}, ...]}}): {e}"
        ))
    })?;
    let parameters = request.parameters.unwrap_or_default();
    parameters.check("the request").map_err(OipError::bad_request)?;
    let binary_output = parameters.bool("the request", "binary_data_output").map_err(OipError::bad_request)?;

    let mut cursor = BinaryCursor::new(binary, header.is_some());
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for (index, input) in request.inputs.into_iter().enumerate() {
        let name = input.name.ok_or_else(|| OipError::bad_request(format!("inputs[{index}] has no \"name\"")))?;
        let owner = format!("input \"{name}\"");
        let datatype = input
            .datatype
            .ok_or_else(|| OipError::bad_request(format!("{owner} has no \"datatype\" (FP32, INT64, BYTES, ...)")))?;
        let ty = input_element_type(&name, &datatype)?;
        let shape = input.shape.ok_or_else(|| OipError::bad_request(format!("{owner} has no \"shape\"")))?;
        let (shape, count) = parse_shape(&name, &shape)?;
        let parameters = input.parameters.unwrap_or_default();
        parameters.check(&owner).map_err(OipError::bad_request)?;
        let tensor = match (parameters.size(&owner, "binary_data_size").map_err(OipError::bad_request)?, input.data) {
            (Some(_), Some(_)) => {
                return Err(OipError::bad_request(format!(
                    "{owner} has both \"data\" and a binary_data_size parameter; send its elements one way"
                )));
            }
            (Some(size), None) => tensor_from_binary(&name, ty, shape, count, cursor.take(&name, size)?)?,
            (None, Some(data)) => tensor_from_json(&name, ty, shape, count, &data)?,
            (None, None) => {
                return Err(OipError::bad_request(format!(
                    "{owner} has no \"data\" and no binary_data_size parameter"
                )));
            }
        };
        inputs.push((name, tensor));
    }
    cursor.finish()?;

    let requested = match request.outputs {
        None => None,
        Some(outputs) => {
            let mut list: Vec<(String, Option<bool>)> = Vec::with_capacity(outputs.len());
            for (index, output) in outputs.into_iter().enumerate() {
                let name =
                    output.name.ok_or_else(|| OipError::bad_request(format!("outputs[{index}] has no \"name\"")))?;
                let owner = format!("output \"{name}\"");
                let parameters: Parameters = output.parameters.unwrap_or_default();
                parameters.check(&owner).map_err(OipError::bad_request)?;
                let binary = parameters.bool(&owner, "binary_data").map_err(OipError::bad_request)?;
                if list.iter().any(|(n, _)| *n == name) {
                    return Err(OipError::bad_request(format!("{owner} is requested twice")));
                }
                list.push((name, binary));
            }
            Some(list)
        }
    };
    Ok(DecodedRequest { id: request.id, inputs, requested, binary_output: binary_output.unwrap_or(false) })
}

impl DecodedRequest {
    /// Checks the request against the model's declared interface — each input's datatype, each requested
    /// output's name — and returns the outputs to answer with, in the order asked (all of the model's
    /// outputs, in its order, when none were named).
    pub fn check(&self, info: &ModelInfo) -> Result<Vec<OutputChoice>, OipError> {
        for (name, tensor) in &self.inputs {
            let spec = info
                .inputs
                .iter()
                .find(|s| s.name == *name)
                .or_else(|| name.parse::<usize>().ok().and_then(|i| info.inputs.get(i)));
            if let Some(spec) = spec
                && spec.ty != tensor.ty()
            {
                return Err(OipError::bad_request(format!(
                    "input \"{name}\": the model expects datatype {}, got {}",
                    datatype_name(spec.ty),
                    datatype_name(tensor.ty())
                )));
            }
        }
        let Some(requested) = &self.requested else {
            return Ok(info
                .outputs
                .iter()
                .map(|s| OutputChoice { name: s.name.clone(), binary: self.binary_output })
                .collect());
        };
        requested
            .iter()
            .map(|(name, binary)| {
                if !info.outputs.iter().any(|s| s.name == *name) {
                    let names: Vec<&str> = info.outputs.iter().map(|s| s.name.as_str()).collect();
                    return Err(OipError::bad_request(format!(
                        "the model has no output \"{name}\"; its outputs are {names:?}"
                    )));
                }
                Ok(OutputChoice { name: name.clone(), binary: binary.unwrap_or(self.binary_output) })
            })
            .collect()
    }
}

/// A shape's dimensions and element count; each dimension must be a non-negative integer.
fn parse_shape(input: &str, shape: &[Value]) -> Result<(Vec<usize>, usize), OipError> {
    let dims: Option<Vec<usize>> = shape.iter().map(|d| d.as_u64().and_then(|n| usize::try_from(n).ok())).collect();
    let dims = dims.ok_or_else(|| {
        OipError::bad_request(format!(
            "input \"{input}\": shape must be a list of non-negative integers, got {}",
            Value::Array(shape.to_vec())
        ))
    })?;
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
        OipError::bad_request(format!("input \"{input}\": shape {} has too many elements", shape_text(&dims)))
    })?;
    Ok((dims, count))
}

/// A concrete shape as `[2, 3]`.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_infer_nn::{Dim, ElementType, TensorSpec};
    use serde_json::json;

    fn info() -> ModelInfo {
        let spec = |name: &str| TensorSpec {
            name: name.into(),
            ty: ElementType::F32,
            dims: vec![Dim::Free(Some("N".into())), Dim::Fixed(2)],
        };
        ModelInfo { inputs: vec![spec("x")], outputs: vec![spec("y"), spec("z")], ..ModelInfo::default() }
    }

    fn json_body(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    fn decode(value: Value) -> Result<DecodedRequest, OipError> {
        decode_request(&json_body(value), None)
    }

    #[test]
    fn a_json_request_decodes_with_its_id_and_all_outputs() {
        let request = decode(json!({
            "id": "42",
            "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [[1.5, -2]]}]
        }))
        .unwrap();
        assert_eq!(request.id.as_deref(), Some("42"));
        assert_eq!(request.inputs[0].0, "x");
        assert_eq!(request.inputs[0].1.to_f32().unwrap(), vec![1.5, -2.0]);
        let outputs = request.check(&info()).unwrap();
        let names: Vec<(&str, bool)> = outputs.iter().map(|o| (o.name.as_str(), o.binary)).collect();
        assert_eq!(names, [("y", false), ("z", false)]);
    }

    #[test]
    fn binary_inputs_are_read_in_order_after_the_json() {
        let json = json_body(json!({
            "inputs": [
                {"name": "a", "shape": [2], "datatype": "UINT8", "parameters": {"binary_data_size": 2}},
                {"name": "b", "shape": [1], "datatype": "INT16", "data": [7]},
                {"name": "c", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 7}}
            ]
        }));
        let mut body = json.clone();
        body.extend_from_slice(&[9, 8, 3, 0, 0, 0, b'a', b'b', b'c']);
        let request = decode_request(&body, Some(&json.len().to_string())).unwrap();
        assert_eq!(request.inputs[0].1.bytes().unwrap(), &[9, 8]);
        assert_eq!(request.inputs[1].1.bytes().unwrap(), &[7, 0]);
        assert_eq!(request.inputs[2].1.strings().unwrap(), &["abc".to_string()]);
    }

    #[test]
    fn outputs_follow_the_request_order_and_binary_choices() {
        let request = decode(json!({
            "parameters": {"binary_data_output": true},
            "inputs": [],
            "outputs": [{"name": "z", "parameters": {"binary_data": false}}, {"name": "y"}]
        }))
        .unwrap();
        let outputs = request.check(&info()).unwrap();
        assert_eq!(
            outputs,
            [OutputChoice { name: "z".into(), binary: false }, OutputChoice { name: "y".into(), binary: true }]
        );
        let request = decode(json!({"inputs": [], "outputs": [{"name": "w"}]})).unwrap();
        let err = request.check(&info()).unwrap_err();
        assert_eq!(err.message, "the model has no output \"w\"; its outputs are [\"y\", \"z\"]");
        let err = decode(json!({"inputs": [], "outputs": [{"name": "y"}, {"name": "y"}]})).unwrap_err();
        assert_eq!(err.message, "output \"y\" is requested twice");
    }

    #[test]
    fn a_datatype_the_model_does_not_take_names_both() {
        let request =
            decode(json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "INT32", "data": [1, 2]}]})).unwrap();
        assert_eq!(
            request.check(&info()).unwrap_err().message,
            "input \"x\": the model expects datatype FP32, got INT32"
        );
        let request =
            decode(json!({"inputs": [{"name": "0", "shape": [1], "datatype": "BYTES", "data": ["a"]}]})).unwrap();
        assert!(request.check(&info()).unwrap_err().message.contains("expects datatype FP32, got BYTES"));
    }

    #[test]
    fn malformed_requests_say_what_is_missing() {
        let cases = [
            (json!([1]), "the request body is not an inference request object"),
            (json!({"inputs": [{"shape": [1]}]}), "inputs[0] has no \"name\""),
            (json!({"inputs": [{"name": "x", "shape": [1]}]}), "input \"x\" has no \"datatype\""),
            (json!({"inputs": [{"name": "x", "datatype": "FP32"}]}), "input \"x\" has no \"shape\""),
            (json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}), "has no \"data\" and no binary"),
            (json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]}), "non-negative"),
            (json!({"inputs": [{"name": "x", "datatype": "BF17", "shape": [1], "data": [1]}]}), "unknown datatype"),
            (
                json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [4294967296u64, 4294967296u64], "data": []}]}),
                "has too many elements",
            ),
            (
                json!({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1],
                                   "parameters": {"binary_data_size": 4}}]}),
                "has both \"data\" and a binary_data_size",
            ),
            (json!({"inputs": [], "parameters": {"binary_data_output": 1}}), "must be a boolean"),
            (json!({"inputs": [], "outputs": [{}]}), "outputs[0] has no \"name\""),
        ];
        for (body, expected) in cases {
            let err = decode(body.clone()).unwrap_err();
            assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
            assert!(err.message.contains(expected), "{body}: {}", err.message);
        }
        let err = decode_request(b"{not json", None).unwrap_err();
        assert!(err.message.contains("not an inference request"), "{}", err.message);
    }

    #[test]
    fn binary_data_must_be_claimed_exactly() {
        let json = json_body(json!({"inputs": [
            {"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}
        ]}));
        let mut body = json.clone();
        body.extend_from_slice(&[0; 6]);
        let err = decode_request(&body, Some(&json.len().to_string())).unwrap_err();
        assert!(err.message.starts_with("2 bytes of binary data follow the JSON"), "{}", err.message);
        let err = decode_request(&body[..json.len() + 2], Some(&json.len().to_string())).unwrap_err();
        assert!(err.message.contains("binary_data_size is 4 bytes, but only 2"), "{}", err.message);
        let err = decode_request(&json, None).unwrap_err();
        assert!(err.message.contains("no Inference-Header-Content-Length"), "{}", err.message);
    }
}
