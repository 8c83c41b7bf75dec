//! The catalog of a node: tenants, and each tenant's models, components and endpoints with their versions;
//! and the content-addressed store their bytes live in.
//!
//! The catalog says *what* is served; the store holds *the bytes*, addressed by sha256, so identical
//! uploads are stored once and loaded once whichever tenant sent them.
#![deny(missing_docs)]

mod catalog;
mod catalog_store;
mod edit;
mod names;
mod seed;
mod served;
mod store;

pub use catalog::{
    Artifact, ArtifactRef, Catalog, ComponentVersion, EndpointVersion, Limits, ModelVersion, ResolvedEndpoint,
    ResolvedModel, Tenant, Versions,
};
pub use catalog_store::{CatalogStore, CatalogStoreError, LocalCatalogStore};
pub use edit::{EditError, Put, generate_key, hash_key};
pub use names::{NameError, check_name};
pub use seed::{SeedError, load_seed};
pub use served::{ServedCatalog, ServedEndpoint};
pub use store::{BlobStore, Digest, LocalStore, StoreError};
