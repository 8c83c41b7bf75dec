//! `edge:infer/models`: what wasi:nn cannot tell a guest about a model — its inputs and outputs, free
//! dimensions included, and the metadata of its file (labels, character sets) — by the same names
//! `load-by-name` takes.

use crate::bindings::models;
use crate::state::GuestState;
use edge_infer_nn::{ElementType, ErrorKind, TensorSpec};

fn element_type(ty: ElementType) -> models::ElementType {
    match ty {
        ElementType::F16 => models::ElementType::F16,
        ElementType::Bf16 => models::ElementType::Bf16,
        ElementType::F32 => models::ElementType::F32,
        ElementType::F64 => models::ElementType::F64,
        ElementType::I8 => models::ElementType::I8,
        ElementType::I16 => models::ElementType::I16,
        ElementType::I32 => models::ElementType::I32,
        ElementType::I64 => models::ElementType::I64,
        ElementType::U8 => models::ElementType::U8,
        ElementType::U16 => models::ElementType::U16,
        ElementType::U32 => models::ElementType::U32,
        ElementType::U64 => models::ElementType::U64,
        ElementType::Bool => models::ElementType::Boolean,
        ElementType::String => models::ElementType::String,
    }
}

fn tensor_info(spec: &TensorSpec) -> models::TensorInfo {
    models::TensorInfo {
        name: spec.name.clone(),
        element_type: element_type(spec.ty),
        dims: spec.dims.iter().map(|d| d.fixed()).collect(),
    }
}

impl models::Host for GuestState {
    async fn info(&mut self, name: String) -> wasmtime::Result<Result<models::ModelInfo, models::Error>> {
        Ok(match self.nn.by_name(&name).await {
            Ok(model) => {
                let info = model.info();
                Ok(models::ModelInfo {
                    inputs: info.inputs.iter().map(tensor_info).collect(),
                    outputs: info.outputs.iter().map(tensor_info).collect(),
                    metadata: info.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                })
            }
            Err(e) if e.kind == ErrorKind::NotFound => Err(models::Error::NotFound(e.message)),
            Err(e) => Err(models::Error::Unavailable(e.message)),
        })
    }
}
