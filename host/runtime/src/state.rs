//! What one guest instance owns (its `Store` data) and what it is granted: the WASI a Rust std guest needs to
//! start, with nothing behind it — empty environment and arguments, no preopened directories, no sockets, no
//! name lookups, outbound HTTP denied — plus `wasi:config` with its endpoint's entries and `wasi:nn` scoped to
//! its tenant and endpoint.

use crate::bindings::NnHost;
use crate::limits::{CappedOutput, GuestLimiter};
use crate::nn_host::NnCtx;
use wasmtime::Engine;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// The data of one guest's `Store`.
pub(crate) struct GuestState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: DenyOutbound,
    pub(crate) config: WasiConfigVariables,
    pub(crate) nn: NnCtx,
    pub(crate) limits: GuestLimiter,
    pub(crate) stdout: CappedOutput,
    pub(crate) stderr: CappedOutput,
}

impl GuestState {
    /// A guest with nothing granted but its config entries and models.
    pub(crate) fn new(
        config: impl IntoIterator<Item = (String, String)>,
        nn: NnCtx,
        memory_limit: usize,
        output_capture: usize,
    ) -> Self {
        let stdout = CappedOutput::new(output_capture);
        let stderr = CappedOutput::new(output_capture);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = GuestLimiter::new(memory_limit);
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: DenyOutbound,
            config: config.into_iter().collect(),
            nn,
            limits,
            stdout,
            stderr,
        }
    }
}

impl GuestState {
    /// Readies a warm instance's state for its next request: timing back to zero (in the instance's own
    /// cell, which the last request's response has already read), no memory-limit hit yet. Returns the cell.
    pub(crate) fn begin_request(&mut self) -> std::sync::Arc<std::sync::Mutex<crate::nn_host::CallTiming>> {
        *self.nn.timing.lock().expect("timing lock") = crate::nn_host::CallTiming::default();
        self.limits.hit_memory_limit = false;
        self.nn.timing.clone()
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// wasi:http hooks that refuse every outbound request: guests have no network.
pub(crate) struct DenyOutbound;

impl WasiHttpHooks for DenyOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// `HasData` for our own interfaces: they are implemented on the whole guest state.
pub(crate) struct Guest;

impl HasData for Guest {
    type Data<'a> = &'a mut GuestState;
}

/// The linker of the `edge:infer/endpoint` world: every import a guest may have, nothing else.
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut GuestState| WasiConfig::from(&s.config))
        .map_err(anyhow::Error::from)?;
    NnHost::add_to_linker::<GuestState, Guest>(&mut linker, |s| s).map_err(anyhow::Error::from)?;
    crate::nn_host::add_tensor_copies(&mut linker)?;
    Ok(linker)
}
