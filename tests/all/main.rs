//! End-to-end tests of the edge-infer node: real guests built from `guest/`, real models, real sockets on
//! 127.0.0.1. One binary for all topics keeps link time low.

mod backends;
mod batching;
#[cfg(feature = "cuda")]
mod cuda;
mod example_embed;
mod example_faces;
mod example_ocr;
mod example_vad;
mod fleet;
mod http;
mod limits;
mod model_budget;
mod oip;
mod operations;
mod orientation;
mod preview1;
mod reuse;
mod sandbox;
mod scheduler;
mod tenants;
mod tensors;
mod uploads;
