//! The inference layer of edge-infer, free of any wasm concern: tensors and their element types, what a model
//! declares ([`ModelInfo`]), the [`Backend`] trait with the always-built tract backend (and ONNX Runtime and
//! OpenVINO behind the `onnxruntime` and `openvino` features), the per-digest
//! [`ModelCache`], and the fair [`Scheduler`] that runs every inference on a bounded thread pool.
//!
//! The wasm runtime (wasi:nn host) and the Open Inference Protocol handlers are thin adapters over this crate:
//! both end in [`Inference::compute`].
#![deny(missing_docs)]

mod backend;
mod batching;
mod cache;
mod elements;
mod error;
mod guard;
mod heap;
mod inference;
mod model;
mod onnx_info;
#[cfg(feature = "onnxruntime")]
pub mod onnxruntime;
#[cfg(feature = "openvino")]
pub mod openvino;
mod scheduler;
mod tensor;
#[cfg(test)]
mod testing;
pub mod tract;
mod validate;

pub use backend::{
    AUTO, AUTO_ORDER, Backend, Backends, CudaConvSearch, LoadedModel, ModelConfig, Precision, Target, compiled_in,
};
pub use batching::{BatchMode, BatchPolicy, CostCurve, LearntCurve};
pub use cache::{LoadCheck, ModelCache, ModelKey};
pub use error::{ErrorKind, NnError};
pub use inference::Inference;
pub use model::{Dim, ModelInfo, TensorSpec};
pub use scheduler::{Job, JobTiming, Scheduler, SchedulerStats, Shares};
pub use tensor::{ElementType, Tensor};
pub use validate::validate_inputs;
