//! The Open Inference Protocol (KServe v2, REST) over edge-infer's tensors, as pure functions: no I/O, no
//! HTTP server, no model. The node's `/v2` handlers read a body, call [`decode_request`], run the model
//! through the one inference path (`Inference::compute`), and answer with [`encode_response`]; every
//! mistake in a request is an [`OipError`] whose message names the input and says what was expected.
//!
//! Covered: the datatypes that map to the node's element types (`BOOL`, `UINT8`…`UINT64`, `INT8`…`INT64`,
//! `FP16`, `FP32`, `FP64`, `BYTES` as text), row-major `data` flattened or nested, `parameters`, a requested
//! subset of outputs, the request `id` echoed, model and server metadata, and Triton's binary tensor data
//! extension in both directions (`Inference-Header-Content-Length`, `binary_data_size`, `binary_data`,
//! `binary_data_output`).
#![deny(missing_docs)]

mod binary;
mod datatype;
mod decode;
mod encode;
mod error;
mod json_data;
mod metadata;
mod parameters;
mod request;

pub use binary::{INFERENCE_HEADER_CONTENT_LENGTH, split_body};
pub use datatype::{datatype_name, element_type};
pub use decode::{DecodedRequest, OutputChoice, decode_request};
pub use encode::{EncodedResponse, encode_response};
pub use error::OipError;
pub use metadata::{EXTENSIONS, MetadataTensor, ModelMetadata, ModelReady, PLATFORM, ServerMetadata};
pub use parameters::Parameters;
pub use request::{InferenceRequest, RequestInput, RequestOutput};
