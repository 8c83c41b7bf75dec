//! Admission of an uploaded component: it must be a component (not a core module), import nothing outside
//! the `edge:infer/endpoint` world, and export `wasi:http/incoming-handler`. An admitted component is
//! compiled once and cached, so its first request pays nothing.

use crate::Runtime;
use edge_infer_catalog::Digest;
use std::sync::Arc;
use wasmtime::component::Component;

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

/// What an admitted component imports and exports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentInfo {
    /// Imported interfaces, with versions.
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
    /// Checks and compiles an uploaded component; on success it is cached under `digest`, ready to serve.
    pub async fn admit(&self, digest: &Digest, bytes: Arc<Vec<u8>>) -> Result<ComponentInfo, AdmitError> {
        let engine = self.engine.clone();
        let check = move || -> Result<(Component, Vec<u8>, ComponentInfo), AdmitError> {
            let invalid = |m: String| AdmitError::Invalid(m);
            match bytes.get(..8) {
                Some([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]) => {}
                Some([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) => {
                    return Err(invalid(
                        "this is a core wasm module, not a component: build for wasm32-wasip2 (or wrap it with \
                         `wasm-tools component new`)"
                            .into(),
                    ));
                }
                _ => return Err(invalid("this is not a wasm component (bad magic or version header)".into())),
            }
            let native = engine
                .precompile_component(&bytes)
                .map_err(|e| invalid(format!("the component does not compile: {e:#}")))?;
            let component =
                crate::compile::from_native(&engine, &native).map_err(|e| AdmitError::Internal(format!("{e:#}")))?;
            let ty = component.component_type();
            let imports: Vec<String> = ty.imports(&engine).map(|(name, _)| name.to_string()).collect();
            let exports: Vec<String> = ty.exports(&engine).map(|(name, _)| name.to_string()).collect();
            let outside: Vec<&String> = imports.iter().filter(|i| !WORLD_IMPORTS.contains(&unversioned(i))).collect();
            if !outside.is_empty() {
                return Err(invalid(format!("imports outside the edge:infer/endpoint world: {outside:?}")));
            }
            if !exports.iter().any(|e| unversioned(e) == HANDLER_EXPORT) {
                return Err(invalid(format!(
                    "the component does not export {HANDLER_EXPORT} (it exports {exports:?})"
                )));
            }
            Ok((component, native, ComponentInfo { imports, exports }))
        };
        let (component, native, info) = tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| AdmitError::Internal(format!("compile task failed: {e}")))??;
        self.components.insert(self, digest, component, &native).map_err(|e| {
            if e.is::<crate::compile::CacheWriteError>() {
                AdmitError::Internal(format!("{e:#}"))
            } else {
                AdmitError::Invalid(format!("the component does not link with this node: {e:#}"))
            }
        })?;
        Ok(info)
    }
}
