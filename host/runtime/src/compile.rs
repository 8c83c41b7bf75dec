//! Compiled guests, once per node: in memory ready to instantiate (a component's `ProxyPre`, a preview 1
//! module's `InstancePre`), and on the node's own disk keyed by digest and engine fingerprint, so a restarted
//! node serves without compiling again.
//!
//! Compiled code is only ever loaded from files this node wrote itself into its cache directory: loading
//! native code trusts its source, so artifacts never come from the shared store. The directory is bounded:
//! after each write, the least recently used files (by modification time, which a load refreshes) go until
//! it fits; what is already in memory keeps serving.

use crate::Runtime;
use crate::cgi::CgiState;
use crate::state::GuestState;
use anyhow::Context as _;
use edge_infer_catalog::Digest;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use wasmtime::component::Component;
use wasmtime::{Engine, InstancePre, Module, Precompiled};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Counts of how components became ready since the node started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Components compiled from wasm.
    pub compiled: u64,
    /// Components loaded from the node's compile cache.
    pub cached: u64,
}

/// A guest ready to instantiate.
#[derive(Clone)]
pub(crate) enum Prepared {
    /// A component with `wasi:http/incoming-handler`.
    Component(ProxyPre<GuestState>),
    /// A WASI preview 1 command module, run CGI-style.
    Module(InstancePre<CgiState>),
}

/// A compiled guest, not linked yet.
pub(crate) enum Compiled {
    Component(Component),
    Module(Module),
}

/// Whether `wasm` is a component (else a core module), by its header.
pub(crate) fn is_component(wasm: &[u8]) -> bool {
    wasm.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

impl Compiled {
    /// Links the guest with the node's imports.
    fn prepare(&self, runtime: &Runtime) -> anyhow::Result<Prepared> {
        match self {
            Self::Component(component) => {
                let pre = runtime.linker.instantiate_pre(component).map_err(anyhow::Error::from)?;
                let pre = ProxyPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .context("the component does not export wasi:http/incoming-handler")?;
                Ok(Prepared::Component(pre))
            }
            Self::Module(module) => {
                Ok(Prepared::Module(runtime.cgi_linker.instantiate_pre(module).map_err(anyhow::Error::from)?))
            }
        }
    }
}

pub(crate) struct ComponentCache {
    dir: PathBuf,
    capacity: u64,
    slots: Mutex<HashMap<Digest, Arc<OnceCell<Prepared>>>>,
    compiled: AtomicU64,
    cached: AtomicU64,
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, root: &std::path::Path, capacity: u64) -> anyhow::Result<Self> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir, capacity, slots: Mutex::default(), compiled: AtomicU64::new(0), cached: AtomicU64::new(0) })
    }

    /// Caches a component compiled elsewhere (an upload's admission) on disk and in memory; fails if it does
    /// not link with the node's world.
    pub(crate) fn insert(
        &self,
        runtime: &Runtime,
        digest: &Digest,
        compiled: Compiled,
        native: &[u8],
    ) -> anyhow::Result<()> {
        let pre = compiled.prepare(runtime)?;
        let path = self.dir.join(format!("{}.cwasm", digest.as_str()));
        write_atomically(&path, native).map_err(|e| anyhow::Error::new(CacheWriteError(e.to_string())))?;
        trim(&self.dir, self.capacity, &path);
        let slot = self.slots.lock().expect("component cache lock").entry(digest.clone()).or_default().clone();
        if slot.set(pre).is_ok() {
            self.compiled.fetch_add(1, Ordering::Relaxed);
            runtime.models.inference().metrics().components_compiled.inc();
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> CompileStats {
        CompileStats { compiled: self.compiled.load(Ordering::Relaxed), cached: self.cached.load(Ordering::Relaxed) }
    }

    /// The ready guest `digest`: from memory, else from the disk cache, else compiled from the store's
    /// bytes (on a blocking thread). Concurrent first callers wait for one compile.
    pub(crate) async fn get(&self, runtime: &Runtime, digest: &Digest) -> anyhow::Result<Prepared> {
        let slot = self.slots.lock().expect("component cache lock").entry(digest.clone()).or_default().clone();
        if let Some(pre) = slot.get() {
            return Ok(pre.clone());
        }
        // Boxed: only a component's first request gets here, and its future would make every request's larger.
        Box::pin(self.prepare(runtime, digest, &slot)).await
    }

    /// Loads `digest` from the disk cache or compiles it, once however many callers wait on `slot`.
    async fn prepare(
        &self,
        runtime: &Runtime,
        digest: &Digest,
        slot: &tokio::sync::OnceCell<Prepared>,
    ) -> anyhow::Result<Prepared> {
        let pre = slot
            .get_or_try_init(|| async {
                let engine = runtime.engine.clone();
                let store = runtime.store.clone();
                let path = self.dir.join(format!("{}.cwasm", digest.as_str()));
                let digest = digest.clone();
                let (dir, capacity) = (self.dir.clone(), self.capacity);
                let (component, compiled) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                    if let Some(component) = load_cached(&engine, &path) {
                        // Recently used: the last to go when the directory is trimmed.
                        let _ = std::fs::File::options()
                            .append(true)
                            .open(&path)
                            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                        return Ok((component, false));
                    }
                    let wasm = store.get(&digest)?;
                    let compiled = compile_to(&engine, &wasm, &path)?;
                    trim(&dir, capacity, &path);
                    Ok((compiled, true))
                })
                .await??;
                let counter = if compiled { &self.compiled } else { &self.cached };
                counter.fetch_add(1, Ordering::Relaxed);
                let metrics = runtime.models.inference().metrics();
                let metric = if compiled { &metrics.components_compiled } else { &metrics.components_from_cache };
                metric.inc();
                component.prepare(runtime)
            })
            .await?;
        Ok(pre.clone())
    }
}

/// The compile cache could not be written: the node's fault, not the component's.
#[derive(Debug, thiserror::Error)]
#[error("writing the compile cache: {0}")]
pub(crate) struct CacheWriteError(String);

/// Compiles `wasm` (a component or a core module) and writes the result to `path` atomically.
fn compile_to(engine: &Engine, wasm: &[u8], path: &std::path::Path) -> anyhow::Result<Compiled> {
    if is_component(wasm) {
        let native = engine.precompile_component(wasm)?;
        write_atomically(path, &native)?;
        Ok(Compiled::Component(from_native(engine, &native)?))
    } else {
        let native = engine.precompile_module(wasm)?;
        write_atomically(path, &native)?;
        Ok(Compiled::Module(module_from_native(engine, &native)?))
    }
}

/// Deletes the least recently used `.cwasm` files of `dir` until they fit in `capacity` bytes; `keep` (just
/// written) stays whatever its size. Failures only cost disk: they are logged.
fn trim(dir: &std::path::Path, capacity: u64, keep: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(PathBuf, u64, std::time::SystemTime)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.len(), meta.modified().ok()?))
        })
        .collect();
    let mut total: u64 = files.iter().map(|(_, size, _)| size).sum();
    files.sort_by_key(|(_, _, modified)| *modified);
    for (path, size, _) in files {
        if total <= capacity {
            break;
        }
        if path == keep {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => total -= size,
            Err(e) => tracing::warn!(path = %path.display(), "trimming the compile cache: {e}"),
        }
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().expect("cache files have a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)?;
    Ok(())
}

/// The component of `native`, which `precompile_component` on `engine` has just produced in this process.
pub(crate) fn from_native(engine: &Engine, native: &[u8]) -> anyhow::Result<Component> {
    // SAFETY: `native` comes straight from `precompile_component` on this very engine (callers guarantee it);
    // it never comes from outside the process.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, native) };
    Ok(component?)
}

/// The module of `native`, which `precompile_module` on `engine` has just produced in this process.
pub(crate) fn module_from_native(engine: &Engine, native: &[u8]) -> anyhow::Result<Module> {
    // SAFETY: as for `from_native`: the bytes come straight from `precompile_module` on this engine.
    #[allow(unsafe_code)]
    let module = unsafe { Module::deserialize(engine, native) };
    Ok(module?)
}

/// The guest cached at `path`, if there is a usable one.
fn load_cached(engine: &Engine, path: &std::path::Path) -> Option<Compiled> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the cache directory is node-local and only ever written by `compile_to` above, with a
    // temporary file renamed into place, under a name that includes the engine's compatibility hash;
    // wasmtime checks that hash again and refuses a mismatching file.
    #[allow(unsafe_code)]
    let compiled = unsafe {
        match Engine::detect_precompiled_file(path) {
            Ok(Some(Precompiled::Module)) => Module::deserialize_file(engine, path).map(Compiled::Module),
            Ok(Some(Precompiled::Component)) => Component::deserialize_file(engine, path).map(Compiled::Component),
            Ok(None) => Err(wasmtime::format_err!("not a compiled artifact")),
            Err(e) => Err(e),
        }
    };
    match compiled {
        Ok(compiled) => Some(compiled),
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring unusable compile cache entry: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_drops_the_least_recently_used_files_but_never_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + secs);
        for (name, age) in [("a", 1), ("b", 3), ("c", 2)] {
            let path = dir.path().join(format!("{name}.cwasm"));
            std::fs::write(&path, [0u8; 100]).unwrap();
            std::fs::File::options().append(true).open(&path).unwrap().set_modified(at(age)).unwrap();
        }
        std::fs::write(dir.path().join("other.tmp"), [0u8; 1000]).unwrap();
        let new = dir.path().join("d.cwasm");
        std::fs::write(&new, [0u8; 150]).unwrap();
        std::fs::File::options().append(true).open(&new).unwrap().set_modified(at(0)).unwrap();
        trim(dir.path(), 300, &new);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
        left.sort();
        // 450 bytes of .cwasm: a (oldest) goes, then c; b and the new d fit in 300 once a and c are gone.
        assert_eq!(left, ["b.cwasm", "d.cwasm", "other.tmp"]);
    }
}
