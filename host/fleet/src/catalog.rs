//! The catalog as one object in the bucket, `catalog.json`, changed only by conditional puts.
//!
//! The store remembers the revision and ETag of the catalog it last loaded, saved or polled. A save of
//! revision `n` puts with `If-Match` on the ETag of revision `n - 1` (or `If-None-Match: *` for the first
//! catalog); if another node saved in between, the bucket refuses it (412) and the save is a conflict: the
//! node reloads and applies its change again. A poll is a `GET` with `If-None-Match` on the last ETag, so an
//! unchanged catalog costs one small request and no body.

use crate::Remote;
use edge_infer_catalog::{Catalog, CatalogStore, CatalogStoreError};
use object_store::{GetOptions, ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::sync::{Arc, Mutex};

/// `catalog.json` in the bucket.
pub struct S3CatalogStore {
    remote: Arc<Remote>,
    /// The revision and ETag last seen; `None` before the first load, or while there is no catalog yet.
    seen: Mutex<Option<(u64, String)>>,
}

/// What a read of the catalog object found.
enum Read {
    Missing,
    NotModified,
    Found(Catalog, String),
}

impl S3CatalogStore {
    /// The catalog in `remote`'s bucket.
    pub fn new(remote: Arc<Remote>) -> Self {
        Self { remote, seen: Mutex::new(None) }
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> CatalogStoreError {
        CatalogStoreError::Unavailable(format!("{}: {e}", self.remote.location))
    }

    /// Reads the catalog, or only learns that it did not change since `etag`.
    fn read(&self, etag: Option<String>) -> Result<Read, CatalogStoreError> {
        let (s3, key) = (self.remote.s3.clone(), self.remote.path("catalog.json"));
        let read = self
            .remote
            .run(async move {
                let options = GetOptions { if_none_match: etag, ..GetOptions::default() };
                let result = match s3.get_opts(&key, options).await {
                    Ok(result) => result,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(object_store::Error::NotModified { .. }) => return Ok(Some(None)),
                    Err(e) => return Err(e),
                };
                let etag = result.meta.e_tag.clone().unwrap_or_default();
                Ok(Some(Some((result.bytes().await?, etag))))
            })
            .map_err(|e| self.unavailable(e))?
            .map_err(|e| self.unavailable(e))?;
        Ok(match read {
            None => Read::Missing,
            Some(None) => Read::NotModified,
            Some(Some((bytes, etag))) => {
                let catalog: Catalog =
                    serde_json::from_slice(&bytes).map_err(|e| CatalogStoreError::Corrupt(e.to_string()))?;
                Read::Found(catalog, etag)
            }
        })
    }
}

impl CatalogStore for S3CatalogStore {
    fn load(&self) -> Result<Catalog, CatalogStoreError> {
        match self.read(None)? {
            Read::Found(catalog, etag) => {
                *self.seen.lock().expect("seen lock") = Some((catalog.revision, etag));
                Ok(catalog)
            }
            Read::Missing | Read::NotModified => {
                *self.seen.lock().expect("seen lock") = None;
                Ok(Catalog::default())
            }
        }
    }

    fn save(&self, catalog: &Catalog) -> Result<(), CatalogStoreError> {
        let seen = self.seen.lock().expect("seen lock").clone();
        let seen_revision = seen.as_ref().map_or(0, |(revision, _)| *revision);
        let mode = match seen {
            Some((revision, etag)) if revision + 1 == catalog.revision => {
                PutMode::Update(UpdateVersion { e_tag: Some(etag), version: None })
            }
            None if catalog.revision == 1 => PutMode::Create,
            Some((revision, _)) => return Err(CatalogStoreError::Conflict(revision)),
            None => return Err(CatalogStoreError::Conflict(0)),
        };
        let body = serde_json::to_vec_pretty(catalog).map_err(|e| CatalogStoreError::Corrupt(e.to_string()))?;
        let (s3, key) = (self.remote.s3.clone(), self.remote.path("catalog.json"));
        let put = self
            .remote
            .run(async move {
                let options = PutOptions { mode, ..PutOptions::default() };
                s3.put_opts(&key, PutPayload::from(body), options).await
            })
            .map_err(|e| self.unavailable(e))?;
        match put {
            Ok(result) => {
                *self.seen.lock().expect("seen lock") = Some((catalog.revision, result.e_tag.unwrap_or_default()));
                Ok(())
            }
            // Someone else saved first (or created the first catalog): reload and try again.
            Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                Err(CatalogStoreError::Conflict(seen_revision))
            }
            Err(e) => Err(self.unavailable(e)),
        }
    }

    fn poll(&self) -> Result<Option<Catalog>, CatalogStoreError> {
        let seen = self.seen.lock().expect("seen lock").clone();
        match self.read(seen.map(|(_, etag)| etag))? {
            Read::NotModified | Read::Missing => Ok(None),
            Read::Found(catalog, etag) => {
                *self.seen.lock().expect("seen lock") = Some((catalog.revision, etag));
                Ok(Some(catalog))
            }
        }
    }
}
