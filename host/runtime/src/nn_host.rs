//! Our `wasi:nn` host: async, tenant-scoped, over the node's shared models and fair scheduler.
//!
//! `load-by-name` sees only the calling endpoint's aliases and its tenant's own models; raw `load` is refused
//! unless the node allows it. `compute` never blocks an async worker: it queues on the inference pool and
//! awaits. Every failure goes back to the guest as a `wasi:nn` error whose `data()` says exactly what was
//! wrong; nothing a guest sends can make the host panic.

use crate::bindings::{errors, graph, inference, tensor};
use crate::state::GuestState;
use bytes::Bytes;
use edge_infer_catalog::{BlobStore, Digest, ResolvedEndpoint, ResolvedModel};
use edge_infer_nn::{ElementType, ErrorKind, Inference, LoadedModel, ModelConfig, ModelKey, NnError, Tensor};
use std::sync::Arc;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, WasmList};

/// Loads models for guests: from the node's shared cache, else from the store.
#[derive(Clone)]
pub struct ModelSource {
    inference: Arc<Inference>,
    store: Arc<dyn BlobStore>,
}

impl ModelSource {
    pub(crate) fn new(inference: Arc<Inference>, store: Arc<dyn BlobStore>) -> Self {
        Self { inference, store }
    }

    /// The inference service.
    pub fn inference(&self) -> &Arc<Inference> {
        &self.inference
    }

    /// The key the model cache knows `model` by.
    pub fn key(model: &ResolvedModel) -> ModelKey {
        ModelKey { digest: model.digest.as_str().to_string(), config: model.config.clone() }
    }

    /// The loaded model `model`, loaded now if this node has not loaded it yet.
    pub async fn load(&self, model: &ResolvedModel) -> Result<Arc<dyn LoadedModel>, NnError> {
        let key = Self::key(model);
        let (store, digest) = (self.store.clone(), model.digest.clone());
        let bytes = move || store.get(&digest).map_err(|e| NnError::runtime(format!("reading the model: {e}")));
        self.inference.models().get_or_load(&key, bytes).await
    }
}

/// What `wasi:nn` may reach from one guest instance.
pub(crate) struct NnCtx {
    pub(crate) tenant: Arc<str>,
    /// The calling endpoint: its `models` are the names `load-by-name` accepts.
    pub(crate) endpoint: Arc<ResolvedEndpoint>,
    pub(crate) source: ModelSource,
    pub(crate) allow_raw_load: bool,
    /// Where this call's time went, shared with the handler for `Server-Timing`.
    pub(crate) timing: Arc<std::sync::Mutex<CallTiming>>,
}

/// Time a guest call spent in the host, for `Server-Timing`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallTiming {
    pub(crate) instantiate: std::time::Duration,
    pub(crate) queue: std::time::Duration,
    pub(crate) inference: std::time::Duration,
    pub(crate) computes: u32,
}

impl NnCtx {
    /// The endpoint's model `name` (an alias of the endpoint or a model of its tenant).
    pub(crate) async fn by_name(&self, name: &str) -> Result<Arc<dyn LoadedModel>, NnError> {
        let model =
            self.endpoint.models.get(name).ok_or_else(|| {
                NnError::not_found(format!("no model named \"{name}\" is available to this endpoint"))
            })?;
        self.source.load(model).await
    }

    /// A model from the guest's own bytes (raw `load`): refused unless the node allows it; ONNX only, cached
    /// by digest, and test-loaded first as an upload is.
    pub(crate) async fn load_bytes(&self, builders: Vec<Vec<u8>>, onnx: bool) -> Result<Arc<dyn LoadedModel>, NnError> {
        if !self.allow_raw_load {
            return Err(NnError::new(
                ErrorKind::Security,
                "raw wasi:nn load is disabled on this node: load the endpoint's models with load-by-name",
            ));
        }
        if !onnx {
            return Err(NnError::new(ErrorKind::InvalidEncoding, "this node loads ONNX models only"));
        }
        let [bytes] = <[Vec<u8>; 1]>::try_from(builders)
            .map_err(|b| NnError::invalid(format!("an ONNX model is one builder, got {}", b.len())))?;
        let digest = Digest::of(&bytes);
        let key = ModelKey { digest: digest.as_str().to_string(), config: ModelConfig::default() };
        self.source.inference().models().get_or_load_checked(&key, Bytes::from(bytes)).await
    }

    /// Runs `model` on the fair scheduler, charged to the tenant, and books the time for `Server-Timing`.
    pub(crate) async fn compute(
        &self,
        model: Arc<dyn LoadedModel>,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor)>, NnError> {
        let (outputs, timing) = self.source.inference().compute_timed(&self.tenant, model, inputs).await?;
        let mut call = self.timing.lock().expect("timing lock");
        call.queue += timing.queue_wait;
        call.inference += timing.run;
        call.computes += 1;
        Ok(outputs)
    }
}

/// A `wasi:nn` tensor: our tensor, restricted to the element types wasi:nn can carry. It is shared only
/// while `data()` is being copied into the guest.
pub struct TensorResource(Arc<Tensor>);
/// A loaded graph.
pub struct GraphResource(Arc<dyn LoadedModel>);
/// An execution context: runs are independent, so it is the graph again.
pub struct ExecutionContextResource(Arc<dyn LoadedModel>);
/// A `wasi:nn` error with its message.
pub struct ErrorResource(NnError);

fn from_wit_type(ty: tensor::TensorType) -> ElementType {
    match ty {
        tensor::TensorType::Fp16 => ElementType::F16,
        tensor::TensorType::Fp32 => ElementType::F32,
        tensor::TensorType::Fp64 => ElementType::F64,
        tensor::TensorType::Bf16 => ElementType::Bf16,
        tensor::TensorType::U8 => ElementType::U8,
        tensor::TensorType::I32 => ElementType::I32,
        tensor::TensorType::I64 => ElementType::I64,
    }
}

fn to_wit_type(ty: ElementType) -> Option<tensor::TensorType> {
    Some(match ty {
        ElementType::F16 => tensor::TensorType::Fp16,
        ElementType::F32 => tensor::TensorType::Fp32,
        ElementType::F64 => tensor::TensorType::Fp64,
        ElementType::Bf16 => tensor::TensorType::Bf16,
        ElementType::U8 => tensor::TensorType::U8,
        ElementType::I32 => tensor::TensorType::I32,
        ElementType::I64 => tensor::TensorType::I64,
        _ => return None,
    })
}

fn error_code(kind: ErrorKind) -> errors::ErrorCode {
    match kind {
        ErrorKind::InvalidArgument => errors::ErrorCode::InvalidArgument,
        ErrorKind::InvalidEncoding => errors::ErrorCode::InvalidEncoding,
        ErrorKind::Timeout => errors::ErrorCode::Timeout,
        ErrorKind::RuntimeError => errors::ErrorCode::RuntimeError,
        ErrorKind::UnsupportedOperation => errors::ErrorCode::UnsupportedOperation,
        ErrorKind::TooLarge => errors::ErrorCode::TooLarge,
        ErrorKind::NotFound => errors::ErrorCode::NotFound,
        ErrorKind::Security => errors::ErrorCode::Security,
        ErrorKind::Unknown => errors::ErrorCode::Unknown,
    }
}

impl GuestState {
    /// Hands `result` to the guest: the value, or a `wasi:nn` error resource.
    fn nn_result<T>(&mut self, result: Result<T, NnError>) -> wasmtime::Result<Result<T, Resource<ErrorResource>>> {
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(e) => {
                tracing::debug!(tenant = %self.nn.tenant, "wasi:nn error for the guest: {e}");
                Ok(Err(self.table.push(ErrorResource(e))?))
            }
        }
    }
}

/// Defines the two `wasi:nn` functions that move a tensor's elements over the generated ones, so that each
/// way is one copy:
///
/// - the constructor reads `data` where it lies in guest memory (`WasmList`) and copies it once, into the
///   tensor's buffer. The generated one would have it lifted into a `Vec` first.
/// - `data()` hands wasmtime a shared view of the tensor's buffer (`Bytes` over the `Arc`), which it copies
///   once, into guest memory. The generated one would return a `Vec` copied out of the buffer first.
///
/// The constructor cannot return an error: a tensor whose bytes do not match its shape is a trap, as in
/// wasmtime's own wasi-nn.
pub(crate) fn add_tensor_copies(linker: &mut Linker<GuestState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    let mut interface = linker.instance(TENSOR_INTERFACE)?;
    interface.func_wrap(
        "[constructor]tensor",
        |mut store: StoreContextMut<'_, GuestState>,
         (dimensions, ty, data): (Vec<u32>, tensor::TensorType, WasmList<u8>)| {
            let shape = dimensions.iter().map(|&d| d as usize).collect();
            let tensor = Tensor::from_bytes(from_wit_type(ty), shape, data.as_le_slice(&store))
                .map_err(|e| wasmtime::format_err!("{e}"))?;
            Ok((store.data_mut().table.push(TensorResource(Arc::new(tensor)))?,))
        },
    )?;
    interface.func_wrap(
        "[method]tensor.data",
        |store: StoreContextMut<'_, GuestState>, (this,): (Resource<TensorResource>,)| {
            let tensor = store.data().table.get(&this)?.0.clone();
            Ok((Bytes::from_owner(TensorBytes(tensor)),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A tensor's elements, shared with the tensor resource until wasmtime has copied them into the guest.
struct TensorBytes(Arc<Tensor>);

impl AsRef<[u8]> for TensorBytes {
    fn as_ref(&self) -> &[u8] {
        // Only numeric tensors reach a wasi:nn handle (`compute` refuses the rest).
        self.0.bytes().unwrap_or_default()
    }
}

/// The interface `add_tensor_copies` defines into, as the WIT names it.
const TENSOR_INTERFACE: &str = "wasi:nn/tensor@0.2.0-rc-2024-10-28";

impl tensor::Host for GuestState {}

impl tensor::HostTensor for GuestState {
    /// Never called: [`add_tensor_copies`] defines the constructor in its place, and a linker where it did
    /// not would trap on every tensor rather than copy twice unnoticed.
    async fn new(
        &mut self,
        _: Vec<u32>,
        _: tensor::TensorType,
        _: Vec<u8>,
    ) -> wasmtime::Result<Resource<TensorResource>> {
        Err(wasmtime::format_err!("wasi:nn's tensor constructor is not the node's own (add_tensor_constructor)"))
    }

    async fn dimensions(&mut self, this: Resource<TensorResource>) -> wasmtime::Result<Vec<u32>> {
        let tensor = &self.table.get(&this)?.0;
        Ok(tensor.shape().iter().map(|&d| u32::try_from(d).unwrap_or(u32::MAX)).collect())
    }

    async fn ty(&mut self, this: Resource<TensorResource>) -> wasmtime::Result<tensor::TensorType> {
        let ty = self.table.get(&this)?.0.ty();
        to_wit_type(ty).ok_or_else(|| wasmtime::format_err!("tensor of type {ty} in a wasi:nn handle"))
    }

    /// Never called, like `new`: [`add_tensor_copies`] defines `data` in its place.
    async fn data(&mut self, _: Resource<TensorResource>) -> wasmtime::Result<Vec<u8>> {
        Err(wasmtime::format_err!("wasi:nn's tensor data() is not the node's own (add_tensor_copies)"))
    }

    async fn drop(&mut self, this: Resource<TensorResource>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl graph::Host for GuestState {
    async fn load(
        &mut self,
        builders: Vec<Vec<u8>>,
        encoding: graph::GraphEncoding,
        _target: graph::ExecutionTarget,
    ) -> wasmtime::Result<Result<Resource<GraphResource>, Resource<ErrorResource>>> {
        let onnx = matches!(encoding, graph::GraphEncoding::Onnx | graph::GraphEncoding::Autodetect);
        let result = self.nn.load_bytes(builders, onnx).await.map(GraphResource);
        let graph = match result {
            Ok(g) => Ok(self.table.push(g)?),
            Err(e) => Err(e),
        };
        self.nn_result(graph)
    }

    async fn load_by_name(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<GraphResource>, Resource<ErrorResource>>> {
        let graph = match self.nn.by_name(&name).await {
            Ok(model) => Ok(self.table.push(GraphResource(model))?),
            Err(e) => Err(e),
        };
        self.nn_result(graph)
    }
}

impl graph::HostGraph for GuestState {
    async fn init_execution_context(
        &mut self,
        this: Resource<GraphResource>,
    ) -> wasmtime::Result<Result<Resource<ExecutionContextResource>, Resource<ErrorResource>>> {
        let model = self.table.get(&this)?.0.clone();
        let context = self.table.push(ExecutionContextResource(model))?;
        Ok(Ok(context))
    }

    async fn drop(&mut self, this: Resource<GraphResource>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl inference::Host for GuestState {}

impl inference::HostGraphExecutionContext for GuestState {
    async fn compute(
        &mut self,
        this: Resource<ExecutionContextResource>,
        inputs: Vec<(String, Resource<TensorResource>)>,
    ) -> wasmtime::Result<Result<Vec<(String, Resource<TensorResource>)>, Resource<ErrorResource>>> {
        let model = self.table.get(&this)?.0.clone();
        // The handles in the list are owned by the host now: take the tensors out of the table.
        let mut tensors = Vec::with_capacity(inputs.len());
        for (name, handle) in inputs {
            let tensor = self.table.delete(handle)?.0;
            tensors.push((name, Arc::try_unwrap(tensor).unwrap_or_else(|shared| (*shared).clone())));
        }
        let outputs = match self.nn.compute(model, tensors).await {
            Ok(outputs) => outputs,
            Err(e) => return self.nn_result(Err(e)),
        };
        if let Some((name, t)) = outputs.iter().find(|(_, t)| to_wit_type(t.ty()).is_none()) {
            let e =
                NnError::unsupported(format!("output \"{name}\" is {}, which wasi:nn tensors cannot carry", t.ty()));
            return self.nn_result(Err(e));
        }
        let mut handles = Vec::with_capacity(outputs.len());
        for (name, tensor) in outputs {
            handles.push((name, self.table.push(TensorResource(Arc::new(tensor)))?));
        }
        Ok(Ok(handles))
    }

    async fn drop(&mut self, this: Resource<ExecutionContextResource>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl errors::Host for GuestState {}

impl errors::HostError for GuestState {
    async fn code(&mut self, this: Resource<ErrorResource>) -> wasmtime::Result<errors::ErrorCode> {
        Ok(error_code(self.table.get(&this)?.0.kind))
    }

    async fn data(&mut self, this: Resource<ErrorResource>) -> wasmtime::Result<String> {
        Ok(self.table.get(&this)?.0.message.clone())
    }

    async fn drop(&mut self, this: Resource<ErrorResource>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
