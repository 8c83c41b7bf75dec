//! The node's inference backends, from `[backends]` in its config: tract always; ONNX Runtime and OpenVINO when
//! this build has them (cargo features `onnxruntime`, `openvino`) and their library is found. The same survey
//! serves `edge-infer serve` (which refuses to start when a library it was pointed at fails to load) and
//! `edge-infer backends` (which prints it).

use crate::Config;
use edge_infer_nn::Backends;
use std::fmt::Write as _;

/// What one backend is on this node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackendStatus {
    /// The name models ask for.
    pub name: &'static str,
    /// Whether this build has it.
    pub built: bool,
    /// Whether models can use it on this node now.
    pub available: bool,
    /// Version, library and settings when available; why not otherwise.
    pub detail: String,
}

/// The outcome of looking for the backends.
pub struct Survey {
    /// The available backends, with the default and the `auto` order applied.
    pub backends: Backends,
    /// One line per backend this code knows.
    pub statuses: Vec<BackendStatus>,
    /// What the operator asked for and did not get: a configured library that does not load, a default that
    /// is not available. A node does not start with any.
    pub errors: Vec<String>,
}

/// Looks for every backend `config` asks for and registers the available ones on top of `base`.
pub fn survey(config: &Config, base: Backends) -> Survey {
    let mut survey = Survey {
        backends: base,
        statuses: vec![BackendStatus {
            name: "tract",
            built: true,
            available: true,
            detail: "tract-onnx, pure Rust, CPU; always built".into(),
        }],
        errors: Vec::new(),
    };
    onnxruntime(config, &mut survey);
    openvino(config, &mut survey);
    let settings = &config.backends;
    if let Err(e) = survey.backends.set_auto_order(&settings.auto) {
        survey.errors.push(format!("[backends] auto: {}", e.message));
    }
    if let Err(e) = survey.backends.set_default(&settings.default) {
        survey.errors.push(format!("[backends] default = \"{}\": {}", settings.default, e.message));
    }
    survey
}

impl Survey {
    /// The backends for a node: each status logged, an error if the operator's settings were not met.
    pub fn into_backends(self) -> anyhow::Result<Backends> {
        for status in &self.statuses {
            match status.available {
                true => tracing::info!(backend = status.name, "backend available: {}", status.detail),
                false => tracing::info!(backend = status.name, "backend not available: {}", status.detail),
            }
        }
        if !self.errors.is_empty() {
            anyhow::bail!("inference backends: {}", self.errors.join("; "));
        }
        tracing::info!(
            "models without a backend run on {}; auto tries {}",
            self.backends.default_name(),
            self.backends.auto_candidates().join(", ")
        );
        Ok(self.backends)
    }

    /// The survey as the table `edge-infer backends` prints.
    pub fn render(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let rows: Vec<[&str; 4]> =
            self.statuses.iter().map(|s| [s.name, yes(s.built), yes(s.available), s.detail.as_str()]).collect();
        let header = ["BACKEND", "BUILT", "AVAILABLE"];
        let width = |i: usize| rows.iter().map(|r| r[i].len()).fold(header[i].len(), usize::max);
        let (w0, w1, w2) = (width(0), width(1), width(2));
        let mut out = format!("{:w0$}   {:w1$}   {:w2$}   DETAIL\n", header[0], header[1], header[2]);
        for [name, built, available, detail] in rows {
            let _ = writeln!(out, "{name:w0$}   {built:w1$}   {available:w2$}   {detail}");
        }
        let _ = writeln!(
            out,
            "\ndefault: {}; auto order: {} (available: {})",
            self.backends.default_name(),
            self.backends.auto_order().join(", "),
            self.backends.auto_candidates().join(", ")
        );
        for error in &self.errors {
            let _ = writeln!(out, "error: {error}");
        }
        out
    }
}

/// A backend this build does not have: only a note when the config sets it up anyway.
#[cfg_attr(all(feature = "onnxruntime", feature = "openvino"), allow(dead_code))]
fn not_built(name: &'static str, configured: bool) -> BackendStatus {
    let mut detail = format!("not in this build (cargo feature \"{name}\")");
    if configured {
        detail.push_str(&format!("; [backends.{name}] is set and ignored"));
    }
    BackendStatus { name, built: false, available: false, detail }
}

#[cfg(feature = "onnxruntime")]
fn onnxruntime(config: &Config, survey: &mut Survey) {
    use crate::config::ENV_ORT_DYLIB_PATH;
    use edge_infer_nn::onnxruntime::{OrtBackend, OrtOptions};
    let settings = &config.backends.onnxruntime;
    let status = |available, detail| BackendStatus { name: "onnxruntime", built: true, available, detail };
    if settings.library.is_none() && std::env::var_os(ENV_ORT_DYLIB_PATH).is_none_or(|v| v.is_empty()) {
        survey.statuses.push(status(
            false,
            format!("no library configured ([backends.onnxruntime] library or {ENV_ORT_DYLIB_PATH})"),
        ));
        return;
    }
    let options = OrtOptions {
        library: settings.library.clone(),
        intra_threads: settings.intra_threads,
        cuda_conv_search: settings.cuda_conv_search,
    };
    match OrtBackend::new(options) {
        Ok(backend) => {
            survey.statuses.push(status(true, backend.describe()));
            survey.backends.register(std::sync::Arc::new(backend));
        }
        Err(e) => {
            survey.statuses.push(status(false, e.message.clone()));
            survey.errors.push(format!("onnxruntime: {}", e.message));
        }
    }
}

#[cfg(not(feature = "onnxruntime"))]
fn onnxruntime(config: &Config, survey: &mut Survey) {
    survey.statuses.push(not_built("onnxruntime", config.backends.onnxruntime.library.is_some()));
}

#[cfg(feature = "openvino")]
fn openvino(config: &Config, survey: &mut Survey) {
    use crate::config::ENV_OPENVINO_INSTALL_DIR;
    use edge_infer_nn::openvino::{OpenVinoBackend, OpenVinoOptions};
    let settings = &config.backends.openvino;
    let status = |available, detail| BackendStatus { name: "openvino", built: true, available, detail };
    // Pointed at a library (config or OPENVINO_INSTALL_DIR): it must load. Otherwise OpenVINO is used if the
    // usual places have it.
    let explicit = settings.library.is_some() || std::env::var_os(ENV_OPENVINO_INSTALL_DIR).is_some();
    let streams = if settings.streams == 0 { config.threads() } else { settings.streams };
    let options = OpenVinoOptions { library: settings.library.clone(), threads: settings.threads, streams };
    match OpenVinoBackend::new(options) {
        Ok(backend) => {
            survey.statuses.push(status(true, backend.describe()));
            survey.backends.register(std::sync::Arc::new(backend));
        }
        Err(e) => {
            survey.statuses.push(status(false, e.message.clone()));
            if explicit {
                survey.errors.push(format!("openvino: {}", e.message));
            }
        }
    }
}

#[cfg(not(feature = "openvino"))]
fn openvino(config: &Config, survey: &mut Survey) {
    use crate::config::ENV_OPENVINO_INSTALL_DIR;
    let configured = config.backends.openvino.library.is_some() || std::env::var_os(ENV_OPENVINO_INSTALL_DIR).is_some();
    survey.statuses.push(not_built("openvino", configured));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_that_is_not_available_is_an_error_and_the_table_says_why() {
        let mut config = Config::default();
        config.backends.default = "tensorrt".into();
        let survey = survey(&config, Backends::default());
        assert_eq!(survey.statuses.len(), 3);
        assert_eq!(survey.errors.len(), 1, "{:?}", survey.errors);
        assert!(survey.errors[0].contains("\"tensorrt\" is not a backend"), "{:?}", survey.errors);
        let table = survey.render();
        assert!(table.starts_with("BACKEND"), "{table}");
        assert!(table.contains("error: [backends] default"), "{table}");
        let message = survey.into_backends().err().unwrap().to_string();
        assert!(message.starts_with("inference backends: [backends] default"), "{message}");
    }
}
