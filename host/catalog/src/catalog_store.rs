//! Where the catalog itself is kept. The local store writes `catalog.json` atomically (temporary file,
//! fsync, rename, fsync of the directory): a crash leaves the old catalog or the new one, never a mix.
//! Every save carries the revision it was based on, so a store shared by several nodes can refuse a save
//! that lost a race.

use crate::Catalog;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A catalog store failure.
#[derive(Debug, thiserror::Error)]
pub enum CatalogStoreError {
    /// Someone else saved first: reload and try again.
    #[error("the catalog changed since revision {0}")]
    Conflict(u64),
    /// The stored catalog cannot be read.
    #[error("the stored catalog is unreadable: {0}")]
    Corrupt(String),
    /// The storage failed.
    #[error("catalog I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A remote store cannot be reached (or answers errors): retry later.
    #[error("the catalog store is unavailable: {0}")]
    Unavailable(String),
}

/// Durable storage for the catalog.
pub trait CatalogStore: Send + Sync + 'static {
    /// The stored catalog, or an empty one at revision 0.
    fn load(&self) -> Result<Catalog, CatalogStoreError>;
    /// Stores `catalog` if the stored revision is still `catalog.revision - 1`.
    fn save(&self, catalog: &Catalog) -> Result<(), CatalogStoreError>;
    /// The stored catalog if it changed since this store last loaded, saved or polled it; `None` if not. A
    /// store that only this node writes never changes behind its back: the default says so.
    fn poll(&self) -> Result<Option<Catalog>, CatalogStoreError> {
        Ok(None)
    }
}

/// `catalog.json` in a local directory.
#[derive(Debug, Clone)]
pub struct LocalCatalogStore {
    path: PathBuf,
}

impl LocalCatalogStore {
    /// The catalog file of data directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { path: dir.join("catalog.json") }
    }
}

impl CatalogStore for LocalCatalogStore {
    fn load(&self) -> Result<Catalog, CatalogStoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CatalogStoreError::Corrupt(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog::default()),
            Err(e) => Err(e.into()),
        }
    }

    fn save(&self, catalog: &Catalog) -> Result<(), CatalogStoreError> {
        let stored = self.load()?.revision;
        if stored + 1 != catalog.revision {
            return Err(CatalogStoreError::Conflict(stored));
        }
        let dir = self.path.parent().expect("the catalog file has a directory");
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, catalog).map_err(std::io::Error::other)?;
        tmp.flush()?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_refuses_stale_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalCatalogStore::new(dir.path());
        let mut catalog = store.load().unwrap();
        assert_eq!(catalog.revision, 0);
        catalog.create_tenant("acme").unwrap();
        catalog.revision += 1;
        store.save(&catalog).unwrap();
        assert_eq!(store.load().unwrap(), catalog);
        // A save based on revision 0 again lost the race.
        assert!(matches!(store.save(&catalog), Err(CatalogStoreError::Conflict(1))));
    }
}
