//! The HTTP front: hyper 1 over TCP, HTTP/1.1 and h2c on one port, routing, request bodies with a limit,
//! errors as JSON, and a graceful shutdown that lets in-flight requests finish.

mod body;
mod error;
mod router;
mod run;
mod server;

pub use body::{Body, BoxError};
pub use error::ApiError;
pub use router::route;
pub use server::serve;
