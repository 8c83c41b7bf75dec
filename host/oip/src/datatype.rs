//! The protocol's datatype names (`FP32`, `UINT8`, `BYTES`, …) and the node's element types. `BYTES`
//! elements are text here: the node's string tensors hold UTF-8.

use crate::OipError;
use edge_infer_nn::ElementType;

/// The datatypes a request may use, for messages.
const ACCEPTED: &str = "BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES";

/// The protocol name of an element type (`f32` → `FP32`).
pub fn datatype_name(ty: ElementType) -> &'static str {
    match ty {
        ElementType::Bool => "BOOL",
        ElementType::U8 => "UINT8",
        ElementType::U16 => "UINT16",
        ElementType::U32 => "UINT32",
        ElementType::U64 => "UINT64",
        ElementType::I8 => "INT8",
        ElementType::I16 => "INT16",
        ElementType::I32 => "INT32",
        ElementType::I64 => "INT64",
        ElementType::F16 => "FP16",
        ElementType::Bf16 => "BF16",
        ElementType::F32 => "FP32",
        ElementType::F64 => "FP64",
        ElementType::String => "BYTES",
    }
}

/// The element type of a request's datatype. Names are case-sensitive, as the protocol says. `BF16` (a
/// Triton datatype outside the protocol's table) is accepted: models with bfloat16 inputs run on the
/// onnxruntime and openvino backends (tract refuses them at load, by name).
pub fn element_type(datatype: &str) -> Result<ElementType, String> {
    Ok(match datatype {
        "BOOL" => ElementType::Bool,
        "UINT8" => ElementType::U8,
        "UINT16" => ElementType::U16,
        "UINT32" => ElementType::U32,
        "UINT64" => ElementType::U64,
        "INT8" => ElementType::I8,
        "INT16" => ElementType::I16,
        "INT32" => ElementType::I32,
        "INT64" => ElementType::I64,
        "FP16" => ElementType::F16,
        "FP32" => ElementType::F32,
        "FP64" => ElementType::F64,
        "BYTES" => ElementType::String,
        "BF16" => ElementType::Bf16,
        other => return Err(format!("unknown datatype \"{other}\"; expected one of {ACCEPTED}")),
    })
}

/// [`element_type`] with the input's name in the message.
pub(crate) fn input_element_type(input: &str, datatype: &str) -> Result<ElementType, OipError> {
    element_type(datatype).map_err(|m| OipError::bad_request(format!("input \"{input}\": {m}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_type_round_trips() {
        for ty in ElementType::ALL {
            let name = datatype_name(ty);
            assert_eq!(element_type(name), Ok(ty), "{name}");
        }
    }

    #[test]
    fn names_are_case_sensitive_and_unknown_ones_list_the_choices() {
        let err = element_type("fp32").unwrap_err();
        assert!(err.starts_with("unknown datatype \"fp32\"; expected one of BOOL"), "{err}");
        let err = input_element_type("x", "FLOAT32").unwrap_err();
        assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with("input \"x\": unknown datatype \"FLOAT32\""), "{}", err.message);
    }
}
