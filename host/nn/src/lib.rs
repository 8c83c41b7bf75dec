//! The inference layer of edge-infer, free of any wasm concern: tensors and their element types, what a model
//! declares ([`ModelInfo`]), the [`Backend`] trait with the always-built tract backend, the per-digest
//! [`ModelCache`], and the fair [`Scheduler`] that runs every inference on a bounded thread pool.
//!
//! The wasm runtime (wasi:nn host) and the Open Inference Protocol handlers are thin adapters over this crate:
//! both end in [`Inference::compute`].
#![deny(missing_docs)]

mod backend;
mod cache;
mod error;
mod inference;
mod model;
mod scheduler;
mod tensor;
pub mod tract;
mod validate;

pub use backend::{Backend, Backends, LoadedModel, ModelConfig};
pub use cache::{ModelCache, ModelKey};
pub use error::{ErrorKind, NnError};
pub use inference::Inference;
pub use model::{Dim, ModelInfo, TensorSpec};
pub use scheduler::{Job, Scheduler, SchedulerStats};
pub use tensor::{ElementType, Tensor};
pub use validate::validate_inputs;
