//! What an ONNX file declares — inputs, outputs, free dimensions, `metadata_props` — read from the protobuf
//! itself, once, the same way for every backend: a model reports the same [`ModelInfo`] on tract, ONNX Runtime
//! and OpenVINO, and requests are checked against it before any engine sees them.
//!
//! Only the ONNX protobuf schema is used here (the generated types that ship in `tract-onnx`), none of tract's
//! engine.

use crate::{Dim, ElementType, ModelConfig, ModelInfo, NnError, TensorSpec};
use std::collections::{BTreeMap, HashSet};
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

/// Decodes an ONNX file; anything that is not one is an invalid encoding.
#[cfg_attr(not(any(feature = "onnxruntime", feature = "openvino")), allow(dead_code))]
pub(crate) fn read_proto(bytes: &[u8]) -> Result<pb::ModelProto, NnError> {
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| not_onnx(format!("it is not an ONNX file ({e})")))?;
    if proto.graph.is_none() {
        return Err(not_onnx("the file has no graph"));
    }
    Ok(proto)
}

fn not_onnx(why: impl std::fmt::Display) -> NnError {
    NnError::new(crate::ErrorKind::InvalidEncoding, format!("cannot load the model: {why}"))
}

/// The model's interface as its file declares it, with the shapes `config` pins applied.
pub(crate) fn declared_info(proto: &pb::ModelProto, config: &ModelConfig) -> Result<ModelInfo, NnError> {
    let graph = proto.graph.as_ref().ok_or_else(|| not_onnx("the file has no graph"))?;
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .map(spec)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = graph.output.iter().map(spec).collect::<Result<Vec<_>, _>>()?;
    for (name, shape) in &config.inputs {
        let input = inputs.iter_mut().find(|i| &i.name == name).ok_or_else(|| {
            NnError::invalid(format!("the config pins input \"{name}\", which the model does not have"))
        })?;
        if shape.len() != input.dims.len()
            || input.dims.iter().zip(shape).any(|(d, s)| d.fixed().is_some_and(|f| f != *s))
        {
            return Err(NnError::invalid(format!(
                "the config pins input \"{name}\" to {shape:?}, which does not fit its declared shape {}",
                input.shape_display()
            )));
        }
        input.dims = shape.iter().map(|s| Dim::Fixed(*s)).collect();
    }
    let metadata: BTreeMap<String, String> =
        proto.metadata_props.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
    Ok(ModelInfo { inputs, outputs, metadata })
}

fn spec(v: &pb::ValueInfoProto) -> Result<TensorSpec, NnError> {
    let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(NnError::unsupported(format!("\"{}\" is not a tensor", v.name)));
    };
    let ty = ElementType::from_onnx(t.elem_type).ok_or_else(|| {
        NnError::unsupported(format!("\"{}\" has ONNX element type {}, which is not supported", v.name, t.elem_type))
    })?;
    let dims = t
        .shape
        .iter()
        .flat_map(|s| &s.dim)
        .map(|d| match &d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(n)) if *n >= 0 => Dim::Fixed(*n as u64),
            // Exporters write "?" or "-1" for "any size": that names no shared dimension.
            Some(pb::tensor_shape_proto::dimension::Value::DimParam(p))
                if !p.is_empty() && p != "?" && p.parse::<i64>().is_err() =>
            {
                Dim::Free(Some(p.clone()))
            }
            _ => Dim::Free(None),
        })
        .collect();
    Ok(TensorSpec { name: v.name.clone(), ty, dims })
}

/// Refuses, by name, the first declared input or output whose element type a backend cannot carry.
#[cfg_attr(not(any(feature = "onnxruntime", feature = "openvino")), allow(dead_code))]
pub(crate) fn check_types(
    backend: &str,
    info: &ModelInfo,
    supported: impl Fn(ElementType) -> bool,
) -> Result<(), NnError> {
    match info.inputs.iter().chain(&info.outputs).find(|s| !supported(s.ty)) {
        Some(spec) => Err(NnError::unsupported(format!(
            "\"{}\" is a {} tensor, which the {backend} backend does not support",
            spec.name, spec.ty
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_declare_what_their_generator_wrote() {
        let bytes = crate::testing::fixture("add_batch.onnx");
        let info = declared_info(&read_proto(&bytes).unwrap(), &ModelConfig::default()).unwrap();
        assert_eq!(info.inputs[0].name, "x");
        assert_eq!(info.inputs[0].dims, vec![Dim::Free(Some("N".into())), Dim::Fixed(3)]);
        assert_eq!(info.metadata["labels"], "a\nb\nc");
    }

    #[test]
    fn garbage_and_truncated_files_are_invalid_encodings() {
        let mlp = crate::testing::fixture("mlp.onnx");
        for bytes in [&b""[..], b"not a model", &mlp[..40]] {
            let err = read_proto(bytes).unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::InvalidEncoding, "{err}");
            assert!(err.message.starts_with("cannot load the model"), "{err}");
        }
    }
}
