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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use std::time::Instant;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The header that says where a guest call's time went.
pub(crate) const SERVER_TIMING: http::HeaderName = http::HeaderName::from_static("server-timing");

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

/// A guest still running after it set its response: it writes the body, and may go on working after it.
type RunningGuest = Pin<Box<dyn Future<Output = Result<(), GuestError>> + Send>>;

/// A guest's response body, which also drives the guest that writes it, and ends cleanly only if the guest
/// did.
///
/// The guest runs in the task of its request: first until it sets its response, then as part of polling this
/// body. A guest that answers at once has written its whole body by then, so hyper sends headers and body
/// together; and no task is spawned, nor any thread woken, per request. wasmtime-wasi-http ends a body
/// normally when the guest goes away without finishing it, so a trap after the headers would look like a
/// complete (short) response: this body holds its end until the guest has returned, and ends with an error
/// if the guest trapped or ran out of time. hyper then breaks the connection (HTTP/1.1) or resets the stream
/// (HTTP/2), and the client knows. A client that goes away drops the body, and with it the guest.
pub struct GuestBody {
    inner: HyperOutgoingBody,
    guest: Option<RunningGuest>,
    finished_well: bool,
}

impl http_body::Body for GuestBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(guest) = self.guest.as_mut()
            && let Poll::Ready(result) = guest.as_mut().poll(cx)
        {
            self.guest = None;
            self.finished_well = result.is_ok();
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {}
            other => return other,
        }
        match (&self.guest, self.finished_well) {
            (Some(_), _) => Poll::Pending,
            (None, true) => Poll::Ready(None),
            (None, false) => Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpProtocolError))),
        }
    }
}

impl GuestBody {
    /// A body that is already complete (a CGI guest's output).
    pub(crate) fn complete(inner: HyperOutgoingBody) -> Self {
        Self { inner, guest: None, finished_well: true }
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
            // Boxed, as it is the rarer kind: its future would make every component request's larger.
            Ok(crate::compile::Prepared::Module(pre)) => return Box::pin(self.handle_cgi(pre, call, request)).await,
            Err(e) => return Err(GuestError::Unavailable(format!("{e:#}"))),
        };
        let started = Instant::now();
        let reuse = call.endpoint.max_instance_reuse > 1;
        let (mut store, warm, uses, timing) =
            match reuse.then(|| self.warm.take(&call.tenant, &call.endpoint)).flatten() {
                Some(warm) => {
                    let mut store = warm.store;
                    let timing = store.data_mut().begin_request();
                    (store, Some(warm.proxy), warm.uses, timing)
                }
                None => {
                    let timing = Arc::new(Mutex::new(CallTiming::default()));
                    (self.new_store(&call, timing.clone()), None, 0, timing)
                }
            };
        // Yield to tokio at every epoch tick: a spinning guest shares its thread and the deadline can fire.
        store.set_epoch_deadline(1);
        if let Some(fuel) = self.config.fuel {
            store.set_fuel(fuel).map_err(|e| GuestError::Trap(format!("{e:#}")))?;
        }

        let (sender, mut receiver) = tokio::sync::oneshot::channel();
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
                        response.headers_mut().append(SERVER_TIMING, value);
                    }
                    response
                });
                let _ = sender.send(result);
            })?;
            Ok((req, out))
        };
        let (req, out) = setup(&mut store).map_err(|e| GuestError::Trap(format!("{e:?}")))?;

        let deadline = call.deadline;
        let metrics = self.models.inference().metrics().clone();
        let warm_instances = self.warm.clone();
        let GuestCall { tenant, endpoint, request_id, .. } = call;
        let mut guest: RunningGuest = Box::pin(async move {
            let run = async {
                let proxy = match warm {
                    Some(proxy) => proxy,
                    None => {
                        let instantiating = Instant::now();
                        let proxy = match pre.instantiate_async(&mut store).await {
                            // Idle warm instances hold slots: free them, then try once more.
                            Err(e) if e.is::<wasmtime::PoolConcurrencyLimitError>() && warm_instances.clear() > 0 => {
                                pre.instantiate_async(&mut store).await?
                            }
                            other => other?,
                        };
                        let took = instantiating.elapsed();
                        store.data().nn.timing.lock().expect("timing lock").instantiate = took;
                        metrics.instantiate_seconds.observe(took.as_secs_f64());
                        proxy
                    }
                };
                proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await.map(|()| proxy)
            };
            let result = {
                let _active = Active::new(&metrics.active_instances);
                tokio::time::timeout(deadline, run).await
            };
            log_output(&tenant, &request_id, &store);
            match result {
                Ok(Ok(proxy)) => {
                    if reuse {
                        warm_instances.put(tenant, endpoint, store, proxy, uses + 1);
                    }
                    Ok(())
                }
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

        // Run the guest here until it sets its response (or ends without one).
        let mut finished = None;
        let response = std::future::poll_fn(|cx| {
            if finished.is_none()
                && let Poll::Ready(result) = guest.as_mut().poll(cx)
            {
                finished = Some(result);
            }
            match Pin::new(&mut receiver).poll(cx) {
                Poll::Ready(response) => Poll::Ready(response.ok()),
                Poll::Pending if finished.is_some() => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match response {
            Some(Ok(response)) => {
                let (guest, finished_well) = match finished {
                    None => (Some(guest), false),
                    Some(result) => (None, result.is_ok()),
                };
                Ok(response.map(|inner| GuestBody { inner, guest, finished_well }))
            }
            Some(Err(code)) => Err(GuestError::GuestErrorCode(format!("{code:?}"))),
            // The response outparam went away unset: the guest's own end says why.
            None => match finished {
                Some(result) => result.and(Err(GuestError::NoResponse)),
                None => guest.await.and(Err(GuestError::NoResponse)),
            },
        }
    }

    /// A store for one guest of `call`'s endpoint, from the pool, with the endpoint's grants.
    fn new_store(&self, call: &GuestCall, timing: Arc<Mutex<CallTiming>>) -> Store<GuestState> {
        let nn = NnCtx {
            tenant: call.tenant.clone(),
            endpoint: call.endpoint.clone(),
            source: self.models.clone(),
            allow_raw_load: self.config.allow_raw_load,
            timing,
        };
        let config = call.endpoint.config.iter().map(|(k, v)| (k.clone(), v.clone()));
        let state = GuestState::new(config, nn, self.config.memory_limit, self.config.output_capture);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_async_yield_and_update(1);
        store
    }
}

/// Counts a guest as active while it lives, however its future ends (a client that goes away drops it).
struct Active<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> Active<'a> {
    fn new(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.dec();
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
    if output.is_empty() {
        return;
    }
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

/// The `Server-Timing` value for a guest call that answered after `total`: milliseconds with three decimals,
/// written from whole microseconds (float formatting was a visible share of a trivial request).
pub(crate) fn server_timing(t: &CallTiming, total: Duration) -> String {
    use std::fmt::Write as _;
    struct Ms(Duration);
    impl std::fmt::Display for Ms {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let us = self.0.as_micros();
            write!(f, "{}.{:03}", us / 1000, us % 1000)
        }
    }
    let mut header = String::with_capacity(128);
    let _ = write!(
        header,
        "instantiate;dur={}, queue;dur={}, inference;dur={};desc=\"{} compute\", guest;dur={}",
        Ms(t.instantiate),
        Ms(t.queue),
        Ms(t.inference),
        t.computes,
        Ms(total)
    );
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_gives_milliseconds_with_three_decimals() {
        let t = CallTiming {
            instantiate: Duration::from_nanos(15_400),
            queue: Duration::ZERO,
            inference: Duration::from_micros(9_512_345),
            computes: 2,
        };
        assert_eq!(
            server_timing(&t, Duration::from_micros(12_003_999)),
            "instantiate;dur=0.015, queue;dur=0.000, inference;dur=9512.345;desc=\"2 compute\", guest;dur=12003.999"
        );
    }
}
