//! `wasi_ephemeral_nn`, the witx-era wasi-nn that the `wasi-nn` 0.6 crate imports, for preview 1 core modules:
//! `load`, `load_by_name`, `init_execution_context`, `set_input`, `compute`, `get_output`, over the same
//! tenant-scoped models and fair scheduler as the component host ([`crate::nn_host`]).
//!
//! The ABI is pointers into the guest's memory and an errno result (`nn_errno`, 0 = success). Every pointer and
//! length is checked against the memory: a bad one is `invalid_argument`, never a host panic or a read outside
//! the guest. The errno has no room for a message, so each error is also logged with the request it belongs to.
//! Graphs and contexts are handles into per-instance tables; `compute` awaits the pool without blocking a
//! thread, as in the component path.

use crate::nn_host::NnCtx;
use edge_infer_nn::{ElementType, ErrorKind, LoadedModel, NnError, Tensor};
use std::sync::Arc;
use wasmtime::{Caller, Extern, Linker, Memory};

/// The module name the `wasi-nn` crate imports from.
pub(crate) const MODULE: &str = "wasi_ephemeral_nn";

/// The functions of [`MODULE`]; an import of another name from it is refused at upload.
pub(crate) const FUNCTIONS: &[&str] =
    &["load", "load_by_name", "init_execution_context", "set_input", "compute", "get_output"];

/// `nn_errno` values of the witx API.
mod errno {
    pub(super) const SUCCESS: i32 = 0;
    pub(super) const INVALID_ARGUMENT: i32 = 1;
    pub(super) const INVALID_ENCODING: i32 = 2;
    pub(super) const RUNTIME_ERROR: i32 = 5;
    pub(super) const UNSUPPORTED_OPERATION: i32 = 6;
    pub(super) const TOO_LARGE: i32 = 7;
    pub(super) const NOT_FOUND: i32 = 8;
}

/// `graph_encoding` values that mean ONNX to this node.
const ENCODING_ONNX: i32 = 1;
const ENCODING_AUTODETECT: i32 = 5;

/// One guest's wasi-nn state: its models and execution contexts, by handle.
pub(crate) struct WitxNn {
    pub(crate) ctx: NnCtx,
    request_id: String,
    graphs: Vec<Arc<dyn LoadedModel>>,
    contexts: Vec<Context>,
}

struct Context {
    model: Arc<dyn LoadedModel>,
    /// By input index, as `set_input` set them; they stay set across computes.
    inputs: Vec<Option<Tensor>>,
    outputs: Vec<Tensor>,
}

/// What a store's data must offer for these functions.
pub(crate) trait HasWitxNn: Send + 'static {
    fn witx_nn(&mut self) -> &mut WitxNn;
}

impl WitxNn {
    pub(crate) fn new(ctx: NnCtx, request_id: String) -> Self {
        Self { ctx, request_id, graphs: Vec::new(), contexts: Vec::new() }
    }

    fn graph(&self, handle: i32) -> Result<Arc<dyn LoadedModel>, NnError> {
        usize::try_from(handle)
            .ok()
            .and_then(|i| self.graphs.get(i))
            .cloned()
            .ok_or_else(|| NnError::invalid(format!("no graph {handle}")))
    }

    fn context(&mut self, handle: i32) -> Result<&mut Context, NnError> {
        usize::try_from(handle)
            .ok()
            .and_then(|i| self.contexts.get_mut(i))
            .ok_or_else(|| NnError::invalid(format!("no execution context {handle}")))
    }
}

/// The errno for `error`, which is also logged: the guest sees only the number.
fn fail(nn: &WitxNn, function: &str, error: NnError) -> i32 {
    tracing::info!(tenant = %nn.ctx.tenant, request_id = nn.request_id, "wasi_ephemeral_nn {function}: {error}");
    match error.kind {
        ErrorKind::InvalidArgument => errno::INVALID_ARGUMENT,
        ErrorKind::InvalidEncoding => errno::INVALID_ENCODING,
        ErrorKind::TooLarge => errno::TOO_LARGE,
        ErrorKind::NotFound => errno::NOT_FOUND,
        // The witx API has no `security` code: a refused raw load is an operation this node does not offer.
        ErrorKind::UnsupportedOperation | ErrorKind::Security => errno::UNSUPPORTED_OPERATION,
        ErrorKind::Timeout | ErrorKind::RuntimeError | ErrorKind::Unknown => errno::RUNTIME_ERROR,
    }
}

/// `tensor_type` of the witx API.
fn element_type(code: u8) -> Option<ElementType> {
    Some(match code {
        0 => ElementType::F16,
        1 => ElementType::F32,
        2 => ElementType::F64,
        3 => ElementType::U8,
        4 => ElementType::I32,
        5 => ElementType::I64,
        _ => return None,
    })
}

/// The guest's exported memory.
fn memory<T>(caller: &mut Caller<'_, T>) -> Result<Memory, NnError> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(NnError::invalid("the module exports no memory")),
    }
}

/// `len` bytes of guest memory at `ptr`, checked.
fn read(data: &[u8], ptr: i32, len: i32) -> Result<&[u8], NnError> {
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    start
        .checked_add(len)
        .and_then(|end| data.get(start..end))
        .ok_or_else(|| NnError::invalid(format!("{len} bytes at {start:#x} are outside the guest's memory")))
}

/// Writes `bytes` into guest memory at `ptr`, checked.
fn write(data: &mut [u8], ptr: i32, bytes: &[u8]) -> Result<(), NnError> {
    let start = ptr as u32 as usize;
    let target = start.checked_add(bytes.len()).and_then(|end| data.get_mut(start..end)).ok_or_else(|| {
        NnError::invalid(format!("{} bytes at {start:#x} are outside the guest's memory", bytes.len()))
    })?;
    target.copy_from_slice(bytes);
    Ok(())
}

/// Stores a new handle at `out` in guest memory.
fn write_handle<T>(caller: &mut Caller<'_, T>, out: i32, handle: usize) -> Result<(), NnError> {
    let handle = u32::try_from(handle).map_err(|_| NnError::new(ErrorKind::TooLarge, "too many handles"))?;
    let memory = memory(caller)?;
    write(memory.data_mut(caller), out, &handle.to_le_bytes())
}

/// The `tensor` struct at `ptr`: `{dimensions: (ptr, len) of u32, type: u8, data: (ptr, len) of u8}`, 20 bytes.
fn read_tensor(data: &[u8], ptr: i32) -> Result<Tensor, NnError> {
    let header = read(data, ptr, 20)?;
    let word = |at: usize| i32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    let (dims_ptr, dims_len, ty, data_ptr, data_len) = (word(0), word(4), header[8], word(12), word(16));
    let dims_bytes =
        read(data, dims_ptr, dims_len.checked_mul(4).ok_or_else(|| NnError::invalid("too many dimensions"))?)?;
    let shape: Vec<usize> =
        dims_bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let ty = element_type(ty).ok_or_else(|| NnError::invalid(format!("unknown tensor type {ty}")))?;
    // One copy, from guest memory into the tensor's buffer.
    Tensor::from_bytes(ty, shape, read(data, data_ptr, data_len)?)
}

/// Adds the functions of [`MODULE`] to `linker`.
pub(crate) fn add_to_linker<T: HasWitxNn>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "load",
        |mut caller: Caller<'_, T>, (builders, count, encoding, _target, out): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let bytes = (|| {
                    let memory = memory(&mut caller)?;
                    let data = memory.data(&caller);
                    let pairs = read(
                        data,
                        builders,
                        count.checked_mul(8).ok_or_else(|| NnError::invalid("too many builders"))?,
                    )?;
                    pairs
                        .chunks_exact(8)
                        .map(|p| {
                            let word = |at: usize| i32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
                            read(data, word(0), word(4)).map(<[u8]>::to_vec)
                        })
                        .collect::<Result<Vec<_>, _>>()
                })();
                let onnx = encoding == ENCODING_ONNX || encoding == ENCODING_AUTODETECT;
                let loaded = match bytes {
                    Ok(bytes) => caller.data_mut().witx_nn().ctx.load_bytes(bytes, onnx).await,
                    Err(e) => Err(e),
                };
                let result = loaded.and_then(|model| new_graph(&mut caller, out, model));
                finish(&mut caller, "load", result)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "load_by_name",
        |mut caller: Caller<'_, T>, (name, len, out): (i32, i32, i32)| {
            Box::new(async move {
                let name = (|| {
                    let memory = memory(&mut caller)?;
                    let bytes = read(memory.data(&caller), name, len)?;
                    String::from_utf8(bytes.to_vec()).map_err(|_| NnError::invalid("the model name is not UTF-8"))
                })();
                let loaded = match name {
                    Ok(name) => caller.data_mut().witx_nn().ctx.by_name(&name).await,
                    Err(e) => Err(e),
                };
                let result = loaded.and_then(|model| new_graph(&mut caller, out, model));
                finish(&mut caller, "load_by_name", result)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "init_execution_context",
        |mut caller: Caller<'_, T>, (graph, out): (i32, i32)| {
            Box::new(async move {
                let result = (|| {
                    let nn = caller.data_mut().witx_nn();
                    let model = nn.graph(graph)?;
                    let inputs = vec![None; model.info().inputs.len()];
                    nn.contexts.push(Context { model, inputs, outputs: Vec::new() });
                    let handle = nn.contexts.len() - 1;
                    write_handle(&mut caller, out, handle)
                })();
                finish(&mut caller, "init_execution_context", result)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "set_input",
        |mut caller: Caller<'_, T>, (context, index, tensor): (i32, i32, i32)| {
            Box::new(async move {
                let result = (|| {
                    let memory = memory(&mut caller)?;
                    let tensor = read_tensor(memory.data(&caller), tensor)?;
                    let context = caller.data_mut().witx_nn().context(context)?;
                    let count = context.inputs.len();
                    let slot =
                        usize::try_from(index).ok().and_then(|i| context.inputs.get_mut(i)).ok_or_else(|| {
                            NnError::invalid(format!("input index {index}: the model has {count} input(s)"))
                        })?;
                    *slot = Some(tensor);
                    Ok(())
                })();
                finish(&mut caller, "set_input", result)
            })
        },
    )?;
    linker.func_wrap_async(MODULE, "compute", |mut caller: Caller<'_, T>, (context,): (i32,)| {
        Box::new(async move {
            let prepared = (|| {
                let context = caller.data_mut().witx_nn().context(context)?;
                let info = context.model.info();
                let mut inputs = Vec::with_capacity(context.inputs.len());
                for (spec, tensor) in info.inputs.iter().zip(&context.inputs) {
                    let tensor = tensor
                        .clone()
                        .ok_or_else(|| NnError::invalid(format!("input \"{}\" was not set", spec.name)))?;
                    inputs.push((spec.name.clone(), tensor));
                }
                Ok((context.model.clone(), inputs))
            })();
            let outputs = match prepared {
                Ok((model, inputs)) => caller.data_mut().witx_nn().ctx.compute(model, inputs).await,
                Err(e) => Err(e),
            };
            let result = outputs.and_then(|outputs| {
                let stored = caller.data_mut().witx_nn().context(context)?;
                stored.outputs = outputs.into_iter().map(|(_, tensor)| tensor).collect();
                Ok(())
            });
            finish(&mut caller, "compute", result)
        })
    })?;
    linker.func_wrap_async(
        MODULE,
        "get_output",
        |mut caller: Caller<'_, T>, (context, index, buffer, max, written): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let result = (|| {
                    let stored = caller.data_mut().witx_nn().context(context)?;
                    let count = stored.outputs.len();
                    let tensor = usize::try_from(index).ok().and_then(|i| stored.outputs.get(i)).ok_or_else(|| {
                        NnError::invalid(format!("output index {index}: there are {count} output(s) (compute first)"))
                    })?;
                    let bytes = tensor.bytes().ok_or_else(|| {
                        NnError::unsupported(format!("output {index} is {}, which wasi-nn cannot carry", tensor.ty()))
                    })?;
                    if bytes.len() > max as u32 as usize {
                        return Err(NnError::new(
                            ErrorKind::TooLarge,
                            format!("output {index} is {} bytes; the buffer holds {}", bytes.len(), max as u32),
                        ));
                    }
                    let bytes = bytes.to_vec();
                    let memory = memory(&mut caller)?;
                    let data = memory.data_mut(&mut caller);
                    write(data, buffer, &bytes)?;
                    write(data, written, &(bytes.len() as u32).to_le_bytes())
                })();
                finish(&mut caller, "get_output", result)
            })
        },
    )?;
    Ok(())
}

/// Registers `model` as a new graph and writes its handle to `out`.
fn new_graph<T: HasWitxNn>(caller: &mut Caller<'_, T>, out: i32, model: Arc<dyn LoadedModel>) -> Result<(), NnError> {
    let nn = caller.data_mut().witx_nn();
    nn.graphs.push(model);
    let handle = nn.graphs.len() - 1;
    write_handle(caller, out, handle)
}

/// The errno of `result`, logging a failure.
fn finish<T: HasWitxNn>(caller: &mut Caller<'_, T>, function: &str, result: Result<(), NnError>) -> i32 {
    match result {
        Ok(()) => errno::SUCCESS,
        Err(e) => fail(caller.data_mut().witx_nn(), function, e),
    }
}
