//! Content-addressed blob storage: bytes in, sha256 out. The local directory store writes atomically
//! (temporary file, fsync, rename, fsync of the directory), so a blob is either whole or absent, even after a
//! crash. The trait is where an S3-compatible store slots in for a fleet.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A sha256 digest, as 64 lowercase hex characters. Shared, not copied, when cloned: the request path keys
/// its caches by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(Arc<str>);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(bytes)).into())
    }

    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.into()))
        } else {
            Err(format!("{s:?} is not a sha256 hex digest"))
        }
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0.to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No blob has this digest.
    #[error("no blob {0}")]
    NotFound(Digest),
    /// The blob's bytes do not hash to its name: the store is damaged.
    #[error("blob {0} is corrupt")]
    Corrupt(Digest),
    /// The storage itself failed.
    #[error("store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A remote store cannot be reached (or answers errors): retry later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// Where artifacts' bytes live, by digest.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` durably and returns their digest; storing the same bytes twice keeps one copy.
    fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError>;
    /// The bytes of `digest`, checked against it.
    fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError>;
    /// Checks that the store is reachable and writable (for readiness).
    fn check(&self) -> Result<(), StoreError>;
}

/// Blobs as files under a local directory: `<dir>/blobs/sha256/<first two hex>/<digest>`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store under `dir`, created if missing.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let root = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&root)?;
        // A crash mid-write leaves a temporary file (never a blob under its digest): sweep them.
        for shard in std::fs::read_dir(&root)?.flatten() {
            for entry in std::fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self { root })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join(&digest.as_str()[..2]).join(digest.as_str())
    }

    /// Deletes blob `digest`, if it is there (for a bounded cache).
    pub fn remove(&self, digest: &Digest) -> Result<(), StoreError> {
        match std::fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Every blob with its size and last modification, for a bounded cache to pick what to evict.
    pub fn entries(&self) -> Result<Vec<(Digest, u64, std::time::SystemTime)>, StoreError> {
        let mut entries = Vec::new();
        for shard in std::fs::read_dir(&self.root)?.flatten() {
            for entry in std::fs::read_dir(shard.path())?.flatten() {
                let Ok(digest) = Digest::try_from(entry.file_name().to_string_lossy().into_owned()) else {
                    continue;
                };
                let meta = entry.metadata()?;
                entries.push((digest, meta.len(), meta.modified()?));
            }
        }
        Ok(entries)
    }
}

impl BlobStore for LocalStore {
    fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let path = self.path(&digest);
        if path.exists() {
            return Ok(digest);
        }
        let dir = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(digest)
    }

    fn check(&self) -> Result<(), StoreError> {
        let mut probe = tempfile::NamedTempFile::new_in(&self.root)?;
        probe.write_all(b"ready?")?;
        probe.as_file().sync_all()?;
        Ok(())
    }

    fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let bytes = std::fs::read(self.path(digest)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound(digest.clone()),
            _ => StoreError::Io(e),
        })?;
        if Digest::of(&bytes) != *digest {
            return Err(StoreError::Corrupt(digest.clone()));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_once_and_reads_back_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let a = store.put(b"model bytes").unwrap();
        assert_eq!(store.put(b"model bytes").unwrap(), a);
        assert_eq!(store.get(&a).unwrap(), b"model bytes");
        std::fs::write(store.path(&a), b"tampered").unwrap();
        assert!(matches!(store.get(&a), Err(StoreError::Corrupt(_))));
        let missing = Digest::of(b"nothing");
        assert!(matches!(store.get(&missing), Err(StoreError::NotFound(_))));
    }
}
