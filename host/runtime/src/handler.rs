//! One HTTP request through one guest: a fresh `Store` from the pool with this endpoint's grants, the request
//! handed to the guest's `wasi:http/incoming-handler`, its response streamed back — all under the endpoint's
//! deadline, which also covers time spent waiting for models.

use crate::Runtime;
use crate::nn_host::{CallTiming, NnCtx};
use crate::state::GuestState;
use bytes::Bytes;
use edge_infer_catalog::ResolvedEndpoint;
use edge_infer_metrics::{KindLabels, TenantLabels};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Who is being called, for whom.
#[derive(Clone)]
pub struct GuestCall {
    /// The tenant that owns the endpoint; its models and its share of the pool.
    pub tenant: Arc<str>,
    /// The endpoint, resolved.
    pub endpoint: Arc<ResolvedEndpoint>,
    /// The request id, for logs and error bodies.
    pub request_id: String,
    /// The wall-clock budget of this call, model runs included.
    pub deadline: Duration,
}

/// The guest's response; its body streams while the guest is still running.
pub type GuestResponse = hyper::Response<GuestBody>;

/// A guest's response body that ends cleanly only if the guest did.
///
/// wasmtime-wasi-http ends a body normally when the guest's instance goes away without finishing it, so a
/// trap after the headers would look like a complete (short) response. This wrapper holds the end of the
/// stream until the guest has returned, and ends it with an error if the guest trapped or ran out of
/// time: hyper then breaks the connection (HTTP/1.1) or resets the stream (HTTP/2), and the client knows.
pub struct GuestBody {
    inner: HyperOutgoingBody,
    outcome: Option<tokio::sync::oneshot::Receiver<bool>>,
}

impl http_body::Body for GuestBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {}
            other => return other,
        }
        let Some(outcome) = self.outcome.as_mut() else { return Poll::Ready(None) };
        match std::pin::Pin::new(outcome).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(finished_well) => {
                self.outcome = None;
                if finished_well.unwrap_or(false) {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpProtocolError)))
                }
            }
        }
    }
}

impl GuestBody {
    /// A body that is already complete (a CGI guest's output).
    pub(crate) fn complete(inner: HyperOutgoingBody) -> Self {
        Self { inner, outcome: None }
    }
}

/// Why a guest produced no response.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The component could not be compiled or linked on this node.
    #[error("the endpoint's component cannot run on this node: {0}")]
    Unavailable(String),
    /// Every guest instance slot of the node is in use: try again shortly.
    #[error("all guest instance slots are busy")]
    Busy,
    /// The guest trapped (a panic, `unreachable`, running out of memory…) before answering; the string names
    /// the kind of trap for the caller ("out of memory", "stack overflow", …).
    #[error("the guest trapped: {0}")]
    Trap(String),
    /// The guest did not answer in time.
    #[error("the guest did not answer within {0:?}")]
    Deadline(Duration),
    /// The guest returned without setting a response.
    #[error("the guest returned without a response")]
    NoResponse,
    /// The guest answered with a wasi:http error instead of a response.
    #[error("the guest answered with the error {0}")]
    GuestErrorCode(String),
    /// A preview 1 (CGI) guest exited with a non-zero status.
    #[error("the guest exited with status {0}")]
    Exit(i32),
    /// A preview 1 (CGI) guest printed something that is not a CGI response; the string says what.
    #[error("the guest's output is not a CGI response: {0}")]
    BadOutput(String),
}

impl Runtime {
    /// Runs the endpoint's guest on `request`, whose URI is already what the guest should see.
    pub async fn handle(
        &self,
        call: GuestCall,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<GuestResponse, GuestError> {
        let pre = match self.components.get(self, &call.endpoint.component).await {
            Ok(crate::compile::Prepared::Component(pre)) => pre,
            Ok(crate::compile::Prepared::Module(pre)) => return self.handle_cgi(pre, call, request).await,
            Err(e) => return Err(GuestError::Unavailable(format!("{e:#}"))),
        };
        let started = Instant::now();
        let timing = Arc::new(Mutex::new(CallTiming::default()));
        let nn = NnCtx {
            tenant: call.tenant.clone(),
            endpoint: call.endpoint.clone(),
            source: self.models.clone(),
            allow_raw_load: self.config.allow_raw_load,
            timing: timing.clone(),
        };
        let config = call.endpoint.config.iter().map(|(k, v)| (k.clone(), v.clone()));
        let state = GuestState::new(config, nn, self.config.memory_limit, self.config.output_capture);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to tokio at every epoch tick: a spinning guest shares its thread and the deadline can fire.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (report, outcome) = tokio::sync::oneshot::channel();
        let request = request.map(|body| body.map_err(|never| -> ErrorCode { match never {} }));
        let setup = |store: &mut Store<GuestState>| -> wasmtime::Result<_> {
            let req = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
            // The response's headers go out when the guest sets it: add where the time went until then.
            let timing = timing.clone();
            let out = store.data_mut().http().new_response_outparam_from_callback(move |result| {
                let result = result.map(|mut response| {
                    let t = *timing.lock().expect("timing lock");
                    let header = server_timing(&t, started.elapsed());
                    if let Ok(value) = http::HeaderValue::from_str(&header) {
                        response.headers_mut().append("server-timing", value);
                    }
                    response
                });
                let _ = sender.send(result);
            })?;
            Ok((req, out))
        };
        let (req, out) = setup(&mut store).map_err(|e| GuestError::Trap(format!("{e:?}")))?;

        if let Some(fuel) = self.config.fuel {
            store.set_fuel(fuel).map_err(|e| GuestError::Trap(format!("{e:#}")))?;
        }
        let deadline = call.deadline;
        let request_id = call.request_id.clone();
        let tenant = call.tenant.clone();
        let metrics = self.models.inference().metrics().clone();
        let task = tokio::spawn(async move {
            let run = async {
                let instantiating = Instant::now();
                let proxy = pre.instantiate_async(&mut store).await?;
                let took = instantiating.elapsed();
                store.data().nn.timing.lock().expect("timing lock").instantiate = took;
                metrics.instantiate_seconds.observe(took.as_secs_f64());
                proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
            };
            metrics.active_instances.inc();
            let result = tokio::time::timeout(deadline, run).await;
            metrics.active_instances.dec();
            log_output(&tenant, &request_id, &store);
            let _ = report.send(matches!(result, Ok(Ok(()))));
            match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) if e.is::<wasmtime::PoolConcurrencyLimitError>() => {
                    tracing::warn!(request_id, "no free guest instance slot: {e}");
                    Err(GuestError::Busy)
                }
                Ok(Err(trap)) => {
                    tracing::warn!(request_id, tenant = %tenant, "guest trapped: {trap:?}");
                    let (kind, label) = trap_kind(&trap, store.data().limits.hit_memory_limit);
                    metrics
                        .guest_traps
                        .get_or_create(&KindLabels { tenant: tenant.to_string(), kind: label.into() })
                        .inc();
                    Err(GuestError::Trap(kind))
                }
                Err(_) => {
                    tracing::warn!(request_id, "guest passed its deadline of {deadline:?}");
                    metrics.deadline_kills.get_or_create(&TenantLabels { tenant: tenant.to_string() }).inc();
                    Err(GuestError::Deadline(deadline))
                }
            }
        });

        match receiver.await {
            Ok(Ok(response)) => Ok(response.map(|inner| GuestBody { inner, outcome: Some(outcome) })),
            Ok(Err(code)) => Err(GuestError::GuestErrorCode(format!("{code:?}"))),
            // The sender was dropped with the store: the task says why.
            Err(_) => match task.await {
                Ok(Ok(())) => Err(GuestError::NoResponse),
                Ok(Err(e)) => Err(e),
                Err(join) => Err(GuestError::Trap(format!("guest task failed: {join}"))),
            },
        }
    }
}

/// Lines of guest output logged per request, each stream.
const MAX_LOG_LINES: usize = 64;

/// Sends what the guest printed to the log, line by line (at most [`MAX_LOG_LINES`]), tagged with the request.
fn log_output(tenant: &str, request_id: &str, store: &Store<GuestState>) {
    log_lines(tenant, request_id, "stdout", &store.data().stdout);
    log_lines(tenant, request_id, "stderr", &store.data().stderr);
}

/// Logs what a guest printed on one stream, at most [`MAX_LOG_LINES`] lines.
pub(crate) fn log_lines(tenant: &str, request_id: &str, stream: &str, output: &crate::limits::CappedOutput) {
    let captured = output.take();
    let text = String::from_utf8_lossy(&captured.bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    for line in lines.iter().take(MAX_LOG_LINES) {
        tracing::info!(tenant, request_id, stream, "guest: {line}");
    }
    let skipped = lines.len().saturating_sub(MAX_LOG_LINES);
    if skipped > 0 || captured.dropped > 0 {
        tracing::info!(
            tenant,
            request_id,
            stream,
            "guest output cut: {skipped} more lines and {} more bytes not logged",
            captured.dropped
        );
    }
}

/// What kind of trap this was: in words a caller understands, and as a metric label.
pub(crate) fn trap_kind(error: &wasmtime::Error, hit_memory_limit: bool) -> (String, &'static str) {
    use wasmtime::Trap;
    let oom = ("out of memory (it reached its memory limit)".to_string(), "out_of_memory");
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => ("stack overflow".into(), "stack_overflow"),
        Some(Trap::OutOfFuel) => ("out of fuel (its CPU budget)".into(), "out_of_fuel"),
        Some(Trap::UnreachableCodeReached) if hit_memory_limit => oom,
        Some(Trap::UnreachableCodeReached) => ("unreachable code reached (a panic or an abort)".into(), "unreachable"),
        // Rust guests keep their stack in linear memory: running off its end reads below address 0.
        Some(Trap::MemoryOutOfBounds) => {
            ("out-of-bounds memory access (in a Rust guest usually a stack overflow)".into(), "memory_out_of_bounds")
        }
        Some(Trap::IntegerDivisionByZero) => ("integer division by zero".into(), "division_by_zero"),
        Some(other) => (format!("{other}"), "other"),
        None if hit_memory_limit => oom,
        None => ("a host call failed".into(), "host_error"),
    }
}

/// The `Server-Timing` value for a guest call that answered after `total`.
pub(crate) fn server_timing(t: &CallTiming, total: Duration) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "instantiate;dur={:.3}, queue;dur={:.3}, inference;dur={:.3};desc=\"{} compute\", guest;dur={:.3}",
        ms(t.instantiate),
        ms(t.queue),
        ms(t.inference),
        t.computes,
        ms(total)
    )
}
