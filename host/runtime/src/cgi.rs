//! WASI preview 1 core modules as endpoints, CGI-style (as WAGI runs them): many existing wasi-nn programs are
//! plain `wasm32-wasip1` commands, and they run here unchanged in their inference code.
//!
//! Per request the module gets a fresh instance from the same pool, limits and deadline as a component, and:
//! - the request body on stdin;
//! - the request as CGI/1.1 meta-variables in its environment (`REQUEST_METHOD`, `PATH_INFO`, `QUERY_STRING`,
//!   `CONTENT_TYPE`, `CONTENT_LENGTH`, `SERVER_PROTOCOL`, `GATEWAY_INTERFACE`, `SERVER_SOFTWARE`, and each
//!   header as `HTTP_<NAME>`), plus `EDGE_INFER_REQUEST_ID` and the endpoint's config as
//!   `EDGE_INFER_CONFIG_<KEY>` (upper case, `-` as `_`); one argument, `endpoint`;
//! - `wasi_ephemeral_nn` over its endpoint's models ([`crate::nn_witx`]); no preopens, no sockets.
//!
//! Its stdout is the response: an optional CGI header block (`Status: 404 Not Found`, `Content-Type: …`, any
//! other header), a blank line, the body; without a header block the whole output is the body
//! (`application/octet-stream`). stderr goes to the node log, capped like a component's. Exiting with a
//! non-zero status is a failed request.

use crate::Runtime;
use crate::handler::{GuestBody, GuestCall, GuestError, GuestResponse};
use crate::limits::{CappedOutput, GuestLimiter};
use crate::nn_host::{CallTiming, NnCtx};
use crate::nn_witx::{HasWitxNn, WitxNn};
use bytes::Bytes;
use edge_infer_metrics::{KindLabels, TenantLabels};
use http_body_util::{BodyExt, Full};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime::{InstancePre, Linker, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

/// The most a module may write to stdout (its response) in one request.
pub const MAX_OUTPUT: usize = 32 << 20;

/// The data of one preview 1 guest's `Store`.
pub(crate) struct CgiState {
    wasi: WasiP1Ctx,
    nn: WitxNn,
    pub(crate) limits: GuestLimiter,
}

impl HasWitxNn for CgiState {
    fn witx_nn(&mut self) -> &mut WitxNn {
        &mut self.nn
    }
}

/// The linker for preview 1 modules: `wasi_snapshot_preview1` and `wasi_ephemeral_nn`, nothing else.
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<CgiState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut CgiState| &mut s.wasi)?;
    crate::nn_witx::add_to_linker(&mut linker)?;
    Ok(linker)
}

impl Runtime {
    /// Runs the preview 1 module `pre` on `request`, CGI-style, and answers what it printed.
    pub(crate) async fn handle_cgi(
        &self,
        pre: InstancePre<CgiState>,
        call: GuestCall,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<GuestResponse, GuestError> {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_else(|never| match never {});
        let stdout = MemoryOutputPipe::new(MAX_OUTPUT);
        let stderr = CappedOutput::new(self.config.output_capture);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdin(MemoryInputPipe::new(body.clone()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .envs(&environment(&parts, body.len(), &call))
            .arg("endpoint")
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let timing = Arc::new(Mutex::new(CallTiming::default()));
        let nn = NnCtx {
            tenant: call.tenant.clone(),
            endpoint: call.endpoint.clone(),
            source: self.models.clone(),
            allow_raw_load: self.config.allow_raw_load,
            timing: timing.clone(),
        };
        let state = CgiState {
            wasi: wasi.build_p1(),
            nn: WitxNn::new(nn, call.request_id.clone()),
            limits: GuestLimiter::new(self.config.memory_limit),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        if let Some(fuel) = self.config.fuel {
            store.set_fuel(fuel).map_err(|e| GuestError::Trap(format!("{e:#}")))?;
        }

        let metrics = self.models.inference().metrics().clone();
        let run = async {
            let instantiating = Instant::now();
            let instance = pre.instantiate_async(&mut store).await?;
            let took = instantiating.elapsed();
            timing.lock().expect("timing lock").instantiate = took;
            metrics.instantiate_seconds.observe(took.as_secs_f64());
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        };
        metrics.active_instances.inc();
        let result = tokio::time::timeout(call.deadline, run).await;
        metrics.active_instances.dec();
        crate::handler::log_lines(&call.tenant, &call.request_id, "stderr", &stderr);
        let tenant = call.tenant.to_string();
        let result = match result {
            Err(_) => {
                tracing::warn!(request_id = call.request_id, "guest passed its deadline of {:?}", call.deadline);
                metrics.deadline_kills.get_or_create(&TenantLabels { tenant }).inc();
                return Err(GuestError::Deadline(call.deadline));
            }
            Ok(result) => result,
        };
        match result {
            Ok(()) => {}
            Err(e) if e.is::<wasmtime::PoolConcurrencyLimitError>() => return Err(GuestError::Busy),
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(wasmtime_wasi::I32Exit(0)) => {}
                Some(wasmtime_wasi::I32Exit(status)) => return Err(GuestError::Exit(*status)),
                None => {
                    tracing::warn!(request_id = call.request_id, tenant, "guest trapped: {e:?}");
                    let (kind, label) = if stdout.contents().len() + 4096 > MAX_OUTPUT {
                        (format!("it wrote more than {MAX_OUTPUT} bytes to stdout"), "output_limit")
                    } else {
                        crate::handler::trap_kind(&e, store.data().limits.hit_memory_limit)
                    };
                    metrics.guest_traps.get_or_create(&KindLabels { tenant, kind: label.into() }).inc();
                    return Err(GuestError::Trap(kind));
                }
            },
        }
        let response = cgi_response(stdout.contents())?;
        let t = *timing.lock().expect("timing lock");
        let (mut parts, body) = response.into_parts();
        if let Ok(value) = http::HeaderValue::from_str(&crate::handler::server_timing(&t, started.elapsed())) {
            parts.headers.append(crate::handler::SERVER_TIMING, value);
        }
        let body = Full::new(body).map_err(|never| match never {}).boxed_unsync();
        Ok(hyper::Response::from_parts(parts, GuestBody::complete(body)))
    }
}

/// The CGI/1.1 meta-variables of a request, the request id and the endpoint's config.
fn environment(parts: &http::request::Parts, content_length: usize, call: &GuestCall) -> Vec<(String, String)> {
    let mut env = vec![
        ("GATEWAY_INTERFACE".to_string(), "CGI/1.1".to_string()),
        ("SERVER_SOFTWARE".into(), concat!("edge-infer/", env!("CARGO_PKG_VERSION")).into()),
        ("SERVER_PROTOCOL".into(), format!("{:?}", parts.version)),
        ("REQUEST_METHOD".into(), parts.method.to_string()),
        ("PATH_INFO".into(), parts.uri.path().to_string()),
        ("QUERY_STRING".into(), parts.uri.query().unwrap_or_default().to_string()),
        ("CONTENT_LENGTH".into(), content_length.to_string()),
        ("EDGE_INFER_REQUEST_ID".into(), call.request_id.clone()),
    ];
    if let Some(ty) = parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        env.push(("CONTENT_TYPE".into(), ty.to_string()));
    }
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_TYPE || name == http::header::CONTENT_LENGTH {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        let key = format!("HTTP_{}", name.as_str().to_ascii_uppercase().replace('-', "_"));
        match env.iter_mut().find(|(k, _)| *k == key) {
            // Repeated headers are joined, as CGI servers do.
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            None => env.push((key, value.to_string())),
        }
    }
    for (key, value) in &call.endpoint.config {
        env.push((format!("EDGE_INFER_CONFIG_{}", key.to_ascii_uppercase().replace('-', "_")), value.clone()));
    }
    env
}

/// The response a CGI program printed: a header block and a blank line, then the body; or only a body.
fn cgi_response(output: Bytes) -> Result<http::Response<Bytes>, GuestError> {
    let bad = |m: String| GuestError::BadOutput(m);
    let mut response = http::Response::new(Bytes::new());
    let Some((head, body_start)) = header_block(&output) else {
        response.headers_mut().insert(http::header::CONTENT_TYPE, "application/octet-stream".parse().expect("valid"));
        response.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(output.len()));
        *response.body_mut() = output;
        return Ok(response);
    };
    let head = std::str::from_utf8(&output[..head]).map_err(|_| bad("its header block is not UTF-8".into()))?;
    for line in head.lines().map(|l| l.trim_end_matches('\r')) {
        let (name, value) = line.split_once(':').ok_or_else(|| bad(format!("header line {line:?} has no ':'")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default();
            *response.status_mut() = code
                .parse::<u16>()
                .ok()
                .and_then(|c| http::StatusCode::from_u16(c).ok())
                .ok_or_else(|| bad(format!("Status: {value:?} is not an HTTP status")))?;
            continue;
        }
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad(format!("{name:?} is not a header name")))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| bad(format!("header {name}: bad value")))?;
        response.headers_mut().append(name, value);
    }
    let body = output.slice(body_start..);
    response.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(body.len()));
    *response.body_mut() = body;
    Ok(response)
}

/// Where the header block ends and the body starts, if the output begins with one: lines of `Name: value`
/// ending in a blank line (`\n\n` or `\r\n\r\n`), within the first 16 KiB.
fn header_block(output: &[u8]) -> Option<(usize, usize)> {
    let window = &output[..output.len().min(16 << 10)];
    let (end, body) = (0..window.len()).find_map(|i| {
        if window[i..].starts_with(b"\r\n\r\n") {
            Some((i, i + 4))
        } else if window[i..].starts_with(b"\n\n") {
            Some((i, i + 2))
        } else {
            None
        }
    })?;
    let first = window[..end].split(|&b| b == b'\n').next()?;
    let colon = first.iter().position(|&b| b == b':')?;
    let is_token = |b: &u8| b.is_ascii_alphanumeric() || b"-_".contains(b);
    (colon > 0 && first[..colon].iter().all(is_token)).then_some((end, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_block_sets_status_and_headers() {
        let out =
            Bytes::from_static(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nno such page");
        let response = cgi_response(out).unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(response.headers()["x-a"], "1");
        assert_eq!(response.headers()["content-length"], "12");
        assert_eq!(response.body().as_ref(), b"no such page");
    }

    #[test]
    fn bare_newlines_work_and_no_header_block_means_all_body() {
        let response = cgi_response(Bytes::from_static(b"Content-Type: application/json\n\n{}")).unwrap();
        assert_eq!((response.status().as_u16(), response.body().as_ref()), (200, b"{}".as_ref()));
        let response = cgi_response(Bytes::from_static(b"{\"a\": 1}\n\nmore")).unwrap();
        assert_eq!(response.headers()["content-type"], "application/octet-stream");
        assert_eq!(response.body().as_ref(), b"{\"a\": 1}\n\nmore");
        let response = cgi_response(Bytes::new()).unwrap();
        assert_eq!((response.status().as_u16(), response.body().len()), (200, 0));
    }

    #[test]
    fn bad_header_blocks_are_named_errors() {
        for (out, says) in [
            (&b"Status: teapot\n\n"[..], "not an HTTP status"),
            (b"Content-Type: a\nno colon here\n\n", "has no ':'"),
            (b"X-Bad: \x01\n\n", "bad value"),
        ] {
            let err = cgi_response(Bytes::copy_from_slice(out)).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
