//! A fleet's shared store: every node of a fleet points at one S3-compatible bucket (AWS S3, MinIO, Ceph,
//! R2, …) and finds there the tenants' uploads and the catalog.
//!
//! - **Blobs** ([`S3BlobStore`]) are immutable and content-addressed (`blobs/sha256/<digest>`); each node keeps a
//!   bounded local cache of the ones it read, least recently used out first, so a node serves from disk and
//!   keeps serving what it has while the bucket is away.
//! - **The catalog** ([`S3CatalogStore`]) is one object, `catalog.json`, written only with a conditional put
//!   on the ETag the writer last saw: of two nodes saving at once, one wins and the other is told to reload
//!   and apply its change again, so no update is lost. Nodes poll it with `If-None-Match`.
//! - Compiled code never goes to the bucket: deserialising native code trusts its source, so each node
//!   compiles for itself and caches that on its own disk (`edge-infer-runtime`).
//!
//! The node's stores are synchronous traits called from blocking threads; the S3 client is async, so this
//! crate runs it on a small runtime of its own ([`remote::Remote`]).
#![deny(missing_docs)]

mod blobs;
mod catalog;
mod remote;

pub use blobs::S3BlobStore;
pub use catalog::S3CatalogStore;
pub use remote::{Remote, S3Settings};
