//! Admission of an uploaded guest. A component must import nothing outside the `edge:infer/endpoint` world
//! and export `wasi:http/incoming-handler`. A core module must be a WASI preview 1 command (`_start`, a
//! memory) importing only `wasi_snapshot_preview1` and `wasi_ephemeral_nn`; it runs CGI-style
//! ([`crate::cgi`]). An admitted guest is compiled once and cached, so its first request pays nothing.

use crate::Runtime;
use crate::compile::Compiled;
use edge_infer_catalog::Digest;
use std::sync::Arc;
use wasmtime::Engine;

/// The interfaces a guest may import, by `namespace:package/interface` (any version the linker accepts).
const WORLD_IMPORTS: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/ip-name-lookup",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    "wasi:nn/tensor",
    "wasi:nn/graph",
    "wasi:nn/inference",
    "wasi:nn/errors",
    "wasi:config/store",
    "edge:infer/models",
];

/// The export every endpoint component must have.
const HANDLER_EXPORT: &str = "wasi:http/incoming-handler";

/// What an admitted guest is, imports and exports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentInfo {
    /// `component`, or `wasip1-module` for a preview 1 core module run CGI-style.
    pub kind: &'static str,
    /// Imported interfaces, with versions (a module's as `module::name`).
    pub imports: Vec<String>,
    /// Exported interfaces, with versions.
    pub exports: Vec<String>,
}

/// Why a component was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// The bytes are not a component this node accepts; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The node failed (disk, …): not the upload's fault.
    #[error("{0}")]
    Internal(String),
}

fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

impl Runtime {
    /// Checks and compiles an uploaded guest; on success it is cached under `digest`, ready to serve.
    pub async fn admit(&self, digest: &Digest, bytes: Arc<Vec<u8>>) -> Result<ComponentInfo, AdmitError> {
        let engine = self.engine.clone();
        let check = move || match bytes.get(..8) {
            Some([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]) => check_component(&engine, &bytes),
            Some([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) => check_module(&engine, &bytes),
            _ => {
                Err(AdmitError::Invalid("this is not a wasm component or module (bad magic or version header)".into()))
            }
        };
        let (compiled, native, info) = tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| AdmitError::Internal(format!("compile task failed: {e}")))??;
        self.components.insert(self, digest, compiled, &native).map_err(|e| {
            if e.is::<crate::compile::CacheWriteError>() {
                AdmitError::Internal(format!("{e:#}"))
            } else {
                AdmitError::Invalid(format!("the component does not link with this node: {e:#}"))
            }
        })?;
        Ok(info)
    }
}

type Checked = (Compiled, Vec<u8>, ComponentInfo);

fn check_component(engine: &Engine, bytes: &[u8]) -> Result<Checked, AdmitError> {
    let invalid = |m: String| AdmitError::Invalid(m);
    let native =
        engine.precompile_component(bytes).map_err(|e| invalid(format!("the component does not compile: {e:#}")))?;
    let component = crate::compile::from_native(engine, &native).map_err(|e| AdmitError::Internal(format!("{e:#}")))?;
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    let outside: Vec<&String> = imports.iter().filter(|i| !WORLD_IMPORTS.contains(&unversioned(i))).collect();
    if !outside.is_empty() {
        return Err(invalid(format!("imports outside the edge:infer/endpoint world: {outside:?}")));
    }
    if !exports.iter().any(|e| unversioned(e) == HANDLER_EXPORT) {
        return Err(invalid(format!("the component does not export {HANDLER_EXPORT} (it exports {exports:?})")));
    }
    Ok((Compiled::Component(component), native, ComponentInfo { kind: "component", imports, exports }))
}

fn check_module(engine: &Engine, bytes: &[u8]) -> Result<Checked, AdmitError> {
    let invalid = |m: String| AdmitError::Invalid(m);
    let native = engine.precompile_module(bytes).map_err(|e| invalid(format!("the module does not compile: {e:#}")))?;
    let module =
        crate::compile::module_from_native(engine, &native).map_err(|e| AdmitError::Internal(format!("{e:#}")))?;
    let imports: Vec<String> = module.imports().map(|i| format!("{}::{}", i.module(), i.name())).collect();
    let outside: Vec<&String> = imports
        .iter()
        .filter(|i| {
            let (module, name) = i.split_once("::").unwrap_or_default();
            module != "wasi_snapshot_preview1"
                && !(module == crate::nn_witx::MODULE && crate::nn_witx::FUNCTIONS.contains(&name))
        })
        .collect();
    if !outside.is_empty() {
        return Err(invalid(format!(
            "a core module may import only wasi_snapshot_preview1 and wasi_ephemeral_nn; it imports {outside:?}"
        )));
    }
    let exports: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
    let start = module.get_export("_start").and_then(|e| e.func().cloned());
    if start.is_none_or(|f| f.params().len() != 0 || f.results().len() != 0) {
        return Err(invalid(format!(
            "a core module must be a WASI preview 1 command exporting `_start` (a `bin` crate built for \
             wasm32-wasip1); it exports {exports:?}"
        )));
    }
    if !module.exports().any(|e| e.name() == "memory" && e.ty().memory().is_some()) {
        return Err(invalid("a core module must export its memory as `memory`".into()));
    }
    Ok((Compiled::Module(module), native, ComponentInfo { kind: "wasip1-module", imports, exports }))
}
