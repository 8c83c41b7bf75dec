//! The sandbox: wasmtime configured for many small, untrusted guests (pooling allocator, epoch deadlines,
//! memory caps), the node-local cache of compiled components, the host side of `wasi:nn` and
//! `edge:infer/models`, and the call of a guest's `wasi:http/incoming-handler` for one HTTP request — or,
//! for a WASI preview 1 core module, its `_start` CGI-style with the witx `wasi_ephemeral_nn`.
//!
//! Guests get nothing by default: no environment, no files, no sockets, no outbound HTTP. They reach models
//! only through `wasi:nn`, by name, among the models of their own endpoint and tenant.
#![deny(missing_docs)]

mod admit;
mod bindings;
mod cgi;
mod compile;
mod engine;
mod handler;
mod limits;
mod models_host;
mod nn_host;
mod nn_witx;
mod state;
mod warm;

pub use admit::{AdmitError, ComponentInfo};
pub use cgi::MAX_OUTPUT as CGI_MAX_OUTPUT;
pub use compile::CompileStats;
pub use engine::{Runtime, RuntimeConfig};
pub use handler::{GuestBody, GuestCall, GuestError, GuestResponse};
pub use nn_host::ModelSource;
