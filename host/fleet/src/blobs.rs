//! Blobs in the bucket, with a bounded local cache: a node reads each blob from the bucket once, then from its
//! own disk, and drops the least recently used ones when the cache passes its size.

use crate::Remote;
use edge_infer_catalog::{BlobStore, Digest, LocalStore, StoreError};
use object_store::{ObjectStore, PutPayload};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Blobs under `blobs/sha256/<digest>` in the bucket, cached on local disk.
pub struct S3BlobStore {
    remote: Arc<Remote>,
    cache: LocalStore,
    index: Mutex<CacheIndex>,
}

/// What the cache holds, by last use.
struct CacheIndex {
    capacity: u64,
    used: u64,
    clock: u64,
    entries: HashMap<Digest, (u64, u64)>,
}

impl CacheIndex {
    /// Records a use of `digest` (of `size` bytes) and returns what to evict to stay within capacity.
    fn touch(&mut self, digest: &Digest, size: u64) -> Vec<Digest> {
        self.clock += 1;
        if self.entries.insert(digest.clone(), (size, self.clock)).is_none() {
            self.used += size;
        }
        let mut evicted = Vec::new();
        while self.used > self.capacity && self.entries.len() > 1 {
            let oldest = self
                .entries
                .iter()
                .filter(|(d, _)| *d != digest)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(d, _)| d.clone())
                .expect("more than one entry");
            let (size, _) = self.entries.remove(&oldest).expect("present");
            self.used -= size;
            evicted.push(oldest);
        }
        evicted
    }
}

impl S3BlobStore {
    /// Blobs in `remote`'s bucket, cached under `cache_dir` up to `cache_bytes` (the oldest-used files on disk
    /// are counted first).
    pub fn new(remote: Arc<Remote>, cache_dir: &std::path::Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let cache = LocalStore::open(cache_dir)?;
        let mut entries = cache.entries()?;
        entries.sort_by_key(|(_, _, modified)| *modified);
        let mut index = CacheIndex { capacity: cache_bytes, used: 0, clock: 0, entries: HashMap::new() };
        for (digest, size, _) in entries {
            for evicted in index.touch(&digest, size) {
                cache.remove(&evicted)?;
            }
        }
        Ok(Self { remote, cache, index: Mutex::new(index) })
    }

    fn key(&self, digest: &Digest) -> object_store::path::Path {
        self.remote.path(&format!("blobs/sha256/{}", digest.as_str()))
    }

    /// Keeps `bytes` in the local cache, evicting what no longer fits.
    fn remember(&self, digest: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        self.cache.put(bytes)?;
        let evicted = self.index.lock().expect("cache index").touch(digest, bytes.len() as u64);
        for old in evicted {
            self.cache.remove(&old)?;
        }
        Ok(())
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(format!("{}: {e}", self.remote.location))
    }
}

impl BlobStore for S3BlobStore {
    fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let (s3, key) = (self.remote.s3.clone(), self.key(&digest));
        let payload = PutPayload::from(bytes.to_vec());
        self.remote
            .run(async move {
                // Content-addressed: an object already there holds these very bytes.
                if s3.head(&key).await.is_ok() {
                    return Ok(());
                }
                s3.put(&key, payload).await.map(drop)
            })
            .map_err(|e| self.unavailable(e))?
            .map_err(|e| self.unavailable(e))?;
        self.remember(&digest, bytes)?;
        Ok(digest)
    }

    fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        if let Ok(bytes) = self.cache.get(digest) {
            let size = bytes.len() as u64;
            let evicted = self.index.lock().expect("cache index").touch(digest, size);
            for old in evicted {
                self.cache.remove(&old)?;
            }
            return Ok(bytes);
        }
        let (s3, key) = (self.remote.s3.clone(), self.key(digest));
        let fetched = self
            .remote
            .run(async move {
                match s3.get(&key).await {
                    Ok(result) => result.bytes().await.map(Some),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| self.unavailable(e))?
            .map_err(|e| self.unavailable(e))?;
        let bytes = fetched.ok_or_else(|| StoreError::NotFound(digest.clone()))?;
        if Digest::of(&bytes) != *digest {
            return Err(StoreError::Corrupt(digest.clone()));
        }
        self.remember(digest, &bytes)?;
        Ok(bytes.to_vec())
    }

    fn check(&self) -> Result<(), StoreError> {
        let (s3, key) = (self.remote.s3.clone(), self.remote.path("probes/ready"));
        self.remote
            .run(async move { s3.put(&key, PutPayload::from_static(b"ready?")).await.map(drop) })
            .map_err(|e| self.unavailable(e))?
            .map_err(|e| self.unavailable(e))?;
        self.cache.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::of(&[n])
    }

    #[test]
    fn the_cache_evicts_the_least_recently_used_first() {
        let mut index = CacheIndex { capacity: 30, used: 0, clock: 0, entries: HashMap::new() };
        assert!(index.touch(&digest(1), 10).is_empty());
        assert!(index.touch(&digest(2), 10).is_empty());
        assert!(index.touch(&digest(3), 10).is_empty());
        assert!(index.touch(&digest(1), 10).is_empty(), "a use does not grow the cache");
        assert_eq!(index.touch(&digest(4), 10), vec![digest(2)], "2 is now the least recently used");
        assert_eq!(index.touch(&digest(5), 25), vec![digest(3), digest(1), digest(4)]);
        assert_eq!(index.used, 25);
        // A blob larger than the whole cache stays (it is being used), alone.
        assert_eq!(index.touch(&digest(6), 100), vec![digest(5)]);
    }
}
