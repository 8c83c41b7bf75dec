//! The edge-infer node: configuration, the node's parts wired together, and the HTTP front.
//!
//! `main.rs` is a thin CLI over this library, so tests start real nodes in-process.
#![deny(missing_docs)]

pub mod backends;
pub mod config;
pub mod http;
pub mod load_check;
pub mod node;
pub mod quota;

pub use config::Config;
pub use node::{Node, NodeOptions};
