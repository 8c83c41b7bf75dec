//! The ONNX Runtime backend (cargo feature `onnxruntime`), through the `ort` crate with `load-dynamic`: nothing
//! is downloaded or linked at build time; the ONNX Runtime shared library (`libonnxruntime.so.1.*`, for example
//! the one in the PyPI `onnxruntime` wheel under `onnxruntime/capi/`) is loaded at start from the node's config
//! or `ORT_DYLIB_PATH`.
//!
//! One library per process: `ort` keeps it, and one ONNX Runtime environment, in process-wide state, so the
//! first backend made loads it and later ones must name the same file. The path is checked before `ort` sees
//! it (`ort` panics on a missing library), and every `ort` call sits behind that check.
//!
//! `ort`'s `Session::run` takes `&mut self`, so a model keeps a small pool of sessions: a run takes an idle one
//! or makes another (their prepacked weights shared), and gives it back. The pool grows to the number of runs
//! that were ever in flight at once, which the inference pool bounds. Each session uses `intra_threads` threads
//! (1 by default), so the node's parallelism stays the inference pool's. A run prefers an idle session whose
//! last run had the same input shapes (batching makes several): a session plans for its input shapes, and on
//! CUDA a new plan (cuDNN's graph and algorithm search) costs 0.06–1.2 s, where a run costs a millisecond. So on
//! the GPU a run of new shapes makes a session of its own rather than re-plan another's, up to
//! [`MAX_GPU_SESSIONS`] per model.
//!
//! CPU always; the CUDA execution provider only with the `cuda` feature, when the library has it, for a model
//! that asks for `target = "gpu"` — which fails to load rather than fall back to the CPU. On the GPU, making a
//! session and a session's first run at new shapes (where cuDNN plans, capturing CUDA graphs) go alone, process
//! wide: ONNX Runtime fails a run or a load that overlaps a capture ("operation not permitted when stream is
//! capturing"). Runs of planned shapes go together.
//!
//! All `ort` types stay inside this file.

use crate::guard::guarded;
use crate::{Backend, CudaConvSearch, ElementType, LoadedModel, ModelConfig, ModelInfo, NnError, Target, Tensor};
use ort::environment::Environment;
use ort::session::builder::{PrepackedWeights, SessionBuilder};
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, TensorElementType, ValueType};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The environment variable `ort` itself reads for the library's path.
pub const ENV_LIBRARY: &str = "ORT_DYLIB_PATH";

/// How the ONNX Runtime backend is set up.
#[derive(Debug, Clone)]
pub struct OrtOptions {
    /// The ONNX Runtime shared library; [`ENV_LIBRARY`] when `None`.
    pub library: Option<PathBuf>,
    /// Threads one inference may use (ONNX Runtime's intra-op threads per session); at least 1.
    pub intra_threads: usize,
    /// How the CUDA execution provider plans convolutions for new input shapes (models with `target = "gpu"`).
    pub cuda_conv_search: CudaConvSearch,
}

impl Default for OrtOptions {
    fn default() -> Self {
        Self { library: None, intra_threads: 1, cuda_conv_search: CudaConvSearch::default() }
    }
}

/// The library this process loaded, and its one environment.
struct Loaded {
    library: PathBuf,
    environment: Environment,
}

static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);

/// The ONNX Runtime backend.
pub struct OrtBackend {
    environment: Environment,
    library: PathBuf,
    intra_threads: usize,
    cuda_conv_search: CudaConvSearch,
}

impl std::fmt::Debug for OrtBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtBackend").field("library", &self.library).finish_non_exhaustive()
    }
}

fn unavailable(message: impl Into<String>) -> NnError {
    NnError::unsupported(message)
}

impl OrtBackend {
    /// Loads the ONNX Runtime library (once per process) and makes the backend. A missing, unreadable or
    /// incompatible library is an error that names the file, never a panic.
    pub fn new(options: OrtOptions) -> Result<Self, NnError> {
        let library = match options.library {
            Some(path) => path,
            None => std::env::var_os(ENV_LIBRARY).filter(|v| !v.is_empty()).map(PathBuf::from).ok_or_else(|| {
                unavailable(format!(
                    "no ONNX Runtime library is configured (set [backends.onnxruntime] library or {ENV_LIBRARY})"
                ))
            })?,
        };
        let library = std::fs::canonicalize(&library)
            .map_err(|e| unavailable(format!("the ONNX Runtime library {} cannot be used: {e}", library.display())))?;
        if !library.is_file() {
            return Err(unavailable(format!("the ONNX Runtime library {} is not a file", library.display())));
        }
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        let environment = match &*loaded {
            Some(done) if done.library == library => done.environment.clone(),
            Some(done) => {
                return Err(unavailable(format!(
                    "ONNX Runtime is already loaded from {} in this process; it cannot load {} as well",
                    done.library.display(),
                    library.display()
                )));
            }
            None => {
                let environment = guarded("onnxruntime", "loading ONNX Runtime", || {
                    let builder = ort::init_from(&library).map_err(|e| unavailable(format!("{e}")))?;
                    builder.with_name("edge-infer").build().map_err(|e| {
                        unavailable(format!("ONNX Runtime from {} does not start: {e}", library.display()))
                    })
                })?;
                *loaded = Some(Loaded { library: library.clone(), environment: environment.clone() });
                environment
            }
        };
        let (intra_threads, cuda_conv_search) = (options.intra_threads.max(1), options.cuda_conv_search);
        Ok(Self { environment, library, intra_threads, cuda_conv_search })
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// One line for `edge-infer backends` and the start log: version, library, execution providers.
    pub fn describe(&self) -> String {
        // The library's own version call is not public in `ort`; release files carry it in their name.
        let name = self.library.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let version = match name.split_once(".so.").or_else(|| name.split_once(".dylib.")) {
            Some((_, version)) => version.to_string(),
            None => ort::info().trim_start_matches("ORT Build Info: ").to_string(),
        };
        format!(
            "ONNX Runtime {version} from {}; {} intra-op thread(s) per inference; CPU; {}",
            self.library.display(),
            self.intra_threads,
            cuda_status()
        )
    }
}

#[cfg(feature = "cuda")]
fn cuda_status() -> String {
    use ort::ep::ExecutionProvider;
    match ort::ep::CUDA::is_available() {
        Ok(true) => "CUDA execution provider present (used by models with target = \"gpu\")".into(),
        Ok(false) => "no CUDA execution provider in this library (a CPU build)".into(),
        Err(e) => format!("CUDA execution provider unknown: {e}"),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_status() -> String {
    "CUDA not in this build (cargo feature \"cuda\")".into()
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn load(&self, bytes: &[u8], config: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
        guarded("onnxruntime", "loading a model", || {
            Ok(Arc::new(OrtModel::load(self, bytes, config)?) as Arc<dyn LoadedModel>)
        })
    }
}

/// How sessions of one model are made.
struct Recipe {
    environment: Environment,
    bytes: Vec<u8>,
    intra_threads: usize,
    target: Target,
    cuda_conv_search: CudaConvSearch,
    weights: PrepackedWeights,
}

/// At most this many sessions of one GPU model, each planned for the shapes it ran last (batch sizes × the
/// inference pool's threads); past it, a run of new shapes re-plans an idle session.
pub const MAX_GPU_SESSIONS: usize = 32;

/// An idle session, and the input shapes of its last run (none yet: empty).
struct Idle<S> {
    shapes: Vec<Vec<usize>>,
    session: S,
}

/// A model's idle sessions, and how many it made.
struct Sessions<S> {
    idle: Mutex<Vec<Idle<S>>>,
    made: std::sync::atomic::AtomicUsize,
}

/// What a run gets from [`Sessions::take`].
enum Taken<S> {
    /// A session whose last run had these shapes: no new plan.
    Planned(S),
    /// A session that will plan these shapes (a first run, or another shape's session).
    Replans(S),
    /// None: make one.
    Make,
}

impl<S> Sessions<S> {
    fn new(first: S) -> Self {
        Self {
            idle: Mutex::new(vec![Idle { shapes: Vec::new(), session: first }]),
            made: std::sync::atomic::AtomicUsize::new(1),
        }
    }

    /// An idle session for a run of `shapes`: one that last ran them; else, when `planning_costs` (the GPU)
    /// and fewer than [`MAX_GPU_SESSIONS`] were made, a new one, unless an unused one waits; else any.
    fn take(&self, shapes: &[Vec<usize>], planning_costs: bool) -> Taken<S> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = idle.iter().rposition(|i| i.shapes == shapes) {
            return Taken::Planned(idle.swap_remove(at).session);
        }
        if let Some(at) = idle.iter().position(|i| i.shapes.is_empty()) {
            return Taken::Replans(idle.swap_remove(at).session);
        }
        if (planning_costs && self.made.load(Relaxed) < MAX_GPU_SESSIONS) || idle.is_empty() {
            self.made.fetch_add(1, Relaxed);
            return Taken::Make;
        }
        Taken::Replans(idle.pop().expect("not empty").session)
    }

    /// A session [`Taken::Make`] asked for could not be made.
    fn not_made(&self) {
        self.made.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Gives `session` back after a run of `shapes`.
    fn give_back(&self, shapes: Vec<Vec<usize>>, session: S) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(Idle { shapes, session });
    }
}

/// GPU sessions' runs of planned shapes share this; making a GPU session and planning new shapes hold it
/// alone (see the module's header).
static GPU_PLANNING: RwLock<()> = RwLock::new(());

struct OrtModel {
    info: ModelInfo,
    recipe: Recipe,
    sessions: Sessions<Session>,
}

fn builder_error(e: ort::Error<SessionBuilder>) -> NnError {
    NnError::runtime(format!("onnxruntime: {e}"))
}

/// An error from ONNX Runtime while loading, in `wasi:nn`'s terms.
fn load_error(e: ort::Error) -> NnError {
    use ort::ErrorCode;
    let message = format!("onnxruntime cannot load the model: {e}");
    match e.code() {
        ErrorCode::NotImplemented => NnError::unsupported(message),
        ErrorCode::InvalidProtobuf | ErrorCode::InvalidGraph | ErrorCode::NoModel => {
            NnError::new(crate::ErrorKind::InvalidEncoding, message)
        }
        ErrorCode::InvalidArgument => NnError::invalid(message),
        _ => NnError::runtime(message),
    }
}

/// An error from ONNX Runtime while running, in `wasi:nn`'s terms. The inputs' names, types and shapes were
/// checked before the run, so an invalid argument now is in their values (a token id past the vocabulary in a
/// `Gather`): the caller's mistake, not the node's.
fn run_error(e: ort::Error) -> NnError {
    let message = format!("onnxruntime: {e}");
    match e.code() {
        ort::ErrorCode::InvalidArgument => NnError::invalid(message),
        _ => NnError::runtime(message),
    }
}

impl Recipe {
    fn session(&self) -> Result<Session, NnError> {
        // `ort`'s builder errors carry the builder back (large): convert each one at once.
        let mut builder = Session::builder(&self.environment)
            .map_err(|e| NnError::runtime(format!("onnxruntime: {e}")))?
            .with_intra_threads(self.intra_threads)
            .map_err(builder_error)?
            .with_inter_threads(1)
            .map_err(builder_error)?
            .with_intra_op_spinning(false)
            .map_err(builder_error)?
            .with_prepacked_weights(&self.weights)
            .map_err(builder_error)?;
        if self.target == Target::Gpu {
            builder = with_cuda(builder, self.cuda_conv_search)?;
        }
        builder.commit_from_memory(&self.bytes).map_err(load_error)
    }
}

#[cfg(feature = "cuda")]
fn with_cuda(builder: SessionBuilder, search: CudaConvSearch) -> Result<SessionBuilder, NnError> {
    use ort::ep::ExecutionProvider;
    use ort::ep::cuda::ConvAlgorithmSearch;
    if !ort::ep::CUDA::is_available().unwrap_or(false) {
        return Err(NnError::unsupported(
            "the model asks for target = \"gpu\", and the loaded ONNX Runtime library has no CUDA execution \
             provider (it is a CPU build; the GPU build is the onnxruntime-gpu wheel)",
        ));
    }
    // f32 means f32: no TF32 tensor-core shortcuts, which ONNX Runtime would otherwise take for matrix products
    // and convolutions (about 10 bits of mantissa), so a GPU answer stays within f32 rounding of the CPU's.
    let search = match search {
        CudaConvSearch::Exhaustive => ConvAlgorithmSearch::Exhaustive,
        CudaConvSearch::Heuristic => ConvAlgorithmSearch::Heuristic,
    };
    let cuda = ort::ep::CUDA::default().with_tf32(false).with_conv_algorithm_search(search);
    builder.with_execution_providers([cuda.build().error_on_failure()]).map_err(|e| {
        NnError::unsupported(format!("the model asks for target = \"gpu\", and CUDA does not start here: {e}"))
    })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(_: SessionBuilder, _: CudaConvSearch) -> Result<SessionBuilder, NnError> {
    Err(NnError::unsupported(
        "the model asks for target = \"gpu\", and this build of edge-infer has no CUDA support (cargo feature \
         \"cuda\")",
    ))
}

impl OrtModel {
    fn load(backend: &OrtBackend, bytes: &[u8], config: &ModelConfig) -> Result<Self, NnError> {
        if config.precision() != crate::Precision::F32 {
            return Err(NnError::unsupported(format!(
                "the model asks for precision = \"{}\", which only the openvino backend offers; onnxruntime \
                 computes in the model's own types",
                config.precision().name()
            )));
        }
        let proto = crate::onnx_info::read_proto(bytes)?;
        let info = crate::onnx_info::declared_info(&proto, config)?;
        crate::onnx_info::check_types("onnxruntime", &info, |_| true)?;
        let recipe = Recipe {
            environment: backend.environment.clone(),
            bytes: bytes.to_vec(),
            intra_threads: backend.intra_threads,
            cuda_conv_search: backend.cuda_conv_search,
            target: config.target(),
            weights: PrepackedWeights::new(),
        };
        // The first session now: a model ONNX Runtime cannot run is refused at upload, not at first use.
        let first = {
            let _alone =
                (recipe.target == Target::Gpu).then(|| GPU_PLANNING.write().unwrap_or_else(|p| p.into_inner()));
            recipe.session()?
        };
        let declared = |names: Vec<&str>, specs: &[crate::TensorSpec], what: &str| {
            let wanted: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            if wanted.iter().all(|w| names.contains(w)) {
                Ok(())
            } else {
                Err(NnError::new(
                    crate::ErrorKind::InvalidEncoding,
                    format!("onnxruntime sees {what} {names:?} where the file declares {wanted:?}"),
                ))
            }
        };
        declared(first.inputs().iter().map(|o| o.name()).collect(), &info.inputs, "inputs")?;
        declared(first.outputs().iter().map(|o| o.name()).collect(), &info.outputs, "outputs")?;
        Ok(Self { info, recipe, sessions: Sessions::new(first) })
    }

    fn run_on(&self, session: &mut Session, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        let values = self
            .info
            .inputs
            .iter()
            .zip(&inputs)
            .map(|(spec, tensor)| Ok((spec.name.as_str(), to_ort(tensor)?)))
            .collect::<Result<Vec<(&str, SessionInputValue<'_>)>, NnError>>()?;
        let outputs = session.run(values).map_err(run_error)?;
        self.info
            .outputs
            .iter()
            .map(|spec| {
                let value = outputs
                    .get(&spec.name)
                    .ok_or_else(|| NnError::runtime(format!("onnxruntime returned no output \"{}\"", spec.name)))?;
                from_ort(value, &spec.name)
            })
            .collect()
    }
}

impl LoadedModel for OrtModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn backend(&self) -> &'static str {
        "onnxruntime"
    }

    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        guarded("onnxruntime", "running a model", || {
            let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
            let gpu = self.recipe.target == Target::Gpu;
            let taken = self.sessions.take(&shapes, gpu);
            let planned = matches!(taken, Taken::Planned(_));
            let _together = (gpu && planned).then(|| GPU_PLANNING.read().unwrap_or_else(|p| p.into_inner()));
            let _alone = (gpu && !planned).then(|| GPU_PLANNING.write().unwrap_or_else(|p| p.into_inner()));
            let mut session = match taken {
                Taken::Planned(session) | Taken::Replans(session) => session,
                Taken::Make => self.recipe.session().inspect_err(|_| self.sessions.not_made())?,
            };
            let result = self.run_on(&mut session, inputs);
            self.sessions.give_back(shapes, session);
            result
        })
    }
}

/// Our tensor as ONNX Runtime's input: a typed view of its elements where they lie (their buffer is aligned
/// for every type), no copy; bool and string elements are copied.
fn to_ort(tensor: &Tensor) -> Result<SessionInputValue<'_>, NnError> {
    let shape: Vec<i64> = tensor.shape().iter().map(|&d| d as i64).collect();
    let failed = |e: ort::Error| NnError::invalid(format!("onnxruntime cannot take the tensor: {e}"));
    if let Some(strings) = tensor.strings() {
        return ort::value::Tensor::from_string_array((shape, strings)).map(|t| t.into_dyn().into()).map_err(failed);
    }
    let bytes = tensor.bytes().unwrap_or_default();
    macro_rules! view {
        ($ty:ty) => {{
            let values: &[$ty] = typed(bytes)?;
            ort::value::TensorRef::from_array_view((shape, values)).map(|t| t.into_dyn().into()).map_err(failed)
        }};
    }
    match tensor.ty() {
        ElementType::F32 => view!(f32),
        ElementType::F64 => view!(f64),
        ElementType::I8 => view!(i8),
        ElementType::I16 => view!(i16),
        ElementType::I32 => view!(i32),
        ElementType::I64 => view!(i64),
        ElementType::U8 => view!(u8),
        ElementType::U16 => view!(u16),
        ElementType::U32 => view!(u32),
        ElementType::U64 => view!(u64),
        ElementType::F16 => view!(half::f16),
        ElementType::Bf16 => view!(half::bf16),
        ElementType::Bool => {
            let values: Vec<bool> = bytes.iter().map(|&b| b != 0).collect();
            ort::value::Tensor::from_array((shape, values)).map(|t| t.into_dyn().into()).map_err(failed)
        }
        ElementType::String => Err(NnError::invalid("a string tensor without strings")),
    }
}

/// Little-endian element bytes as the values they are, in place.
fn typed<T: bytemuck::AnyBitPattern>(bytes: &[u8]) -> Result<&[T], NnError> {
    if bytes.is_empty() {
        return Ok(&[]);
    }
    bytemuck::try_cast_slice(bytes).map_err(|e| NnError::runtime(format!("tensor elements cannot be viewed: {e}")))
}

/// ONNX Runtime's tensor into ours: one copy of the elements, as bytes.
fn from_ort(value: &DynValue, name: &str) -> Result<Tensor, NnError> {
    let ValueType::Tensor { ty, shape, .. } = value.dtype() else {
        return Err(NnError::unsupported(format!("output \"{name}\" is not a tensor ({})", value.dtype())));
    };
    let dims = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| NnError::runtime(format!("output \"{name}\" has the shape {shape}")))?;
    let failed = |e: ort::Error| NnError::runtime(format!("onnxruntime: output \"{name}\": {e}"));
    let ours = element_type(*ty, name)?;
    macro_rules! bytes {
        ($ty:ty) => {{
            let (_, data) = value.try_extract_tensor::<$ty>().map_err(failed)?;
            Tensor::from_bytes(ours, dims, bytemuck::cast_slice::<$ty, u8>(data))
        }};
    }
    match ty {
        TensorElementType::String => {
            let (_, strings) = value.try_extract_strings().map_err(failed)?;
            Tensor::from_strings(dims, strings)
        }
        _ if shape.num_elements() == 0 => Tensor::from_bytes(ours, dims, []),
        TensorElementType::Float32 => bytes!(f32),
        TensorElementType::Float64 => bytes!(f64),
        TensorElementType::Int8 => bytes!(i8),
        TensorElementType::Int16 => bytes!(i16),
        TensorElementType::Int32 => bytes!(i32),
        TensorElementType::Int64 => bytes!(i64),
        TensorElementType::Uint8 => bytes!(u8),
        TensorElementType::Uint16 => bytes!(u16),
        TensorElementType::Uint32 => bytes!(u32),
        TensorElementType::Uint64 => bytes!(u64),
        TensorElementType::Bool => bytes!(bool),
        TensorElementType::Float16 => bytes!(half::f16),
        TensorElementType::Bfloat16 => bytes!(half::bf16),
        _ => Err(NnError::runtime(format!("output \"{name}\": unexpected element type {ty}"))),
    }
}

fn element_type(ty: TensorElementType, name: &str) -> Result<ElementType, NnError> {
    Ok(match ty {
        TensorElementType::Float32 => ElementType::F32,
        TensorElementType::Float64 => ElementType::F64,
        TensorElementType::Float16 => ElementType::F16,
        TensorElementType::Bfloat16 => ElementType::Bf16,
        TensorElementType::Int8 => ElementType::I8,
        TensorElementType::Int16 => ElementType::I16,
        TensorElementType::Int32 => ElementType::I32,
        TensorElementType::Int64 => ElementType::I64,
        TensorElementType::Uint8 => ElementType::U8,
        TensorElementType::Uint16 => ElementType::U16,
        TensorElementType::Uint32 => ElementType::U32,
        TensorElementType::Uint64 => ElementType::U64,
        TensorElementType::Bool => ElementType::Bool,
        TensorElementType::String => ElementType::String,
        other => {
            return Err(NnError::unsupported(format!("output \"{name}\" is a {other} tensor, which is not supported")));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixture, venv_file};
    use crate::{Dim, ErrorKind};

    /// The session (a number here) that `take` hands out, and whether it is planned for the shapes.
    fn take(sessions: &Sessions<u32>, batch: usize, gpu: bool, next: &mut u32) -> (u32, bool) {
        match sessions.take(&[vec![batch, 3]], gpu) {
            Taken::Planned(s) => (s, true),
            Taken::Replans(s) => (s, false),
            Taken::Make => {
                *next += 1;
                (*next, false)
            }
        }
    }

    #[test]
    fn a_run_gets_the_session_that_last_ran_its_shapes() {
        for gpu in [false, true] {
            // Two runs at once, of batches of 1 and 2.
            let (sessions, mut next) = (Sessions::new(0), 0);
            assert_eq!(take(&sessions, 1, gpu, &mut next), (0, false), "the first session plans");
            assert_eq!(take(&sessions, 2, gpu, &mut next), (1, false), "none idle: a new one");
            sessions.give_back(vec![vec![1, 3]], 0);
            sessions.give_back(vec![vec![2, 3]], 1);
            let two = 1;
            assert_eq!(take(&sessions, 1, gpu, &mut next), (0, true), "gpu: {gpu}");
            assert_eq!(take(&sessions, 2, gpu, &mut next), (two, true), "gpu: {gpu}");
        }
    }

    #[test]
    fn on_the_gpu_new_shapes_get_new_sessions_up_to_the_limit_on_the_cpu_an_idle_one() {
        let (sessions, mut next) = (Sessions::new(0), 0);
        sessions.give_back(vec![vec![1, 3]], take(&sessions, 1, false, &mut next).0);
        assert_eq!(take(&sessions, 2, false, &mut next), (0, false), "the CPU re-plans the idle session");

        let (sessions, mut next) = (Sessions::new(0), 0);
        sessions.give_back(vec![vec![1, 3]], take(&sessions, 1, true, &mut next).0);
        for batch in 2..=MAX_GPU_SESSIONS {
            let (session, planned) = take(&sessions, batch, true, &mut next);
            assert_eq!((session, planned), (batch as u32 - 1, false), "a new session for batch {batch}");
            sessions.give_back(vec![vec![batch, 3]], session);
        }
        let (session, planned) = take(&sessions, MAX_GPU_SESSIONS + 1, true, &mut next);
        assert!(session < MAX_GPU_SESSIONS as u32 && !planned, "past the limit, an idle session re-plans");
        sessions.give_back(vec![vec![MAX_GPU_SESSIONS + 1, 3]], session);
        assert_eq!(take(&sessions, MAX_GPU_SESSIONS + 1, true, &mut next), (session, true));
        sessions.not_made();
        assert!(matches!(sessions.take(&[vec![99, 3]], true), Taken::Make), "one that failed is not counted");
    }

    fn backend() -> OrtBackend {
        let library = venv_file("onnxruntime/capi", "libonnxruntime.so");
        OrtBackend::new(OrtOptions { library: Some(library), ..OrtOptions::default() }).unwrap()
    }

    fn load(name: &str) -> Arc<dyn LoadedModel> {
        backend().load(&fixture(name), &ModelConfig::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn identity_round_trips_every_type_byte_for_byte() {
        for ty in ElementType::ALL {
            let model = load(&format!("identity_{ty}.onnx"));
            let x = match ty.size() {
                None => {
                    let strings = ["", "é", "a b", "ok", "x", "\u{1F600}", "y", "z"].map(String::from).to_vec();
                    Tensor::from_strings(vec![2, 4], [&strings[..7], &["x".repeat(300)]].concat())
                }
                Some(size) => {
                    let bytes: Vec<u8> = (0..2 * 4 * size)
                        .map(|i| if ty == ElementType::Bool { (i % 2) as u8 } else { (i * 37 + 11) as u8 })
                        .collect();
                    Tensor::from_bytes(ty, vec![2, 4], bytes)
                }
            }
            .unwrap();
            let out = model.run(vec![x.clone()]).unwrap_or_else(|e| panic!("{ty}: {e}"));
            assert_eq!(out, vec![x], "{ty}");
        }
    }

    #[test]
    fn free_dimensions_run_at_several_sizes_and_concurrently() {
        let model = load("add_batch.onnx");
        assert_eq!(model.info().inputs[0].dims, vec![Dim::Free(Some("N".into())), Dim::Fixed(3)]);
        std::thread::scope(|scope| {
            for n in [1usize, 3, 5, 2] {
                let model = model.clone();
                scope.spawn(move || {
                    let values: Vec<f32> = (0..n * 3).map(|i| i as f32).collect();
                    let y = model.run(vec![Tensor::from_f32(vec![n, 3], &values).unwrap()]).unwrap().remove(0);
                    let want: Vec<f32> = values.iter().enumerate().map(|(i, v)| v + [1.0, 2.0, 3.0][i % 3]).collect();
                    assert_eq!((y.shape(), y.to_f32().unwrap()), (&[n, 3][..], want));
                });
            }
        });
    }

    #[test]
    fn mlp_matches_the_reference_outputs() {
        let samples: serde_json::Value = serde_json::from_slice(&fixture("samples.json")).unwrap();
        let floats = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
        };
        let sample = &samples["mlp.onnx"];
        let x = Tensor::from_f32(vec![2, 8], &floats(&sample["input"]["data"])).unwrap();
        let y = load("mlp.onnx").run(vec![x]).unwrap().remove(0).to_f32().unwrap();
        for (got, want) in y.iter().zip(floats(&sample["output"]["data"])) {
            assert!((got - want).abs() < 1e-5, "{y:?}");
        }
    }

    #[test]
    fn bad_models_and_settings_are_errors_not_panics() {
        let backend = backend();
        for bytes in [&b""[..], b"not a model", &fixture("mlp.onnx")[..40]] {
            let err = backend.load(bytes, &ModelConfig::default()).err().unwrap();
            assert_eq!(err.kind, ErrorKind::InvalidEncoding, "{err}");
        }
        let onnx = fixture("identity_f32.onnx");
        let at = onnx.windows(8).position(|w| w == b"Identity").unwrap();
        let mut unknown = onnx.clone();
        unknown[at..at + 8].copy_from_slice(b"NoSuchOp");
        let err = backend.load(&unknown, &ModelConfig::default()).err().unwrap();
        assert!(err.message.contains("NoSuchOp"), "{err}");
        let gpu = ModelConfig { target: Some(Target::Gpu), ..ModelConfig::default() };
        let err = backend.load(&onnx, &gpu).err().unwrap();
        assert_eq!(err.kind, ErrorKind::UnsupportedOperation);
        assert!(err.message.contains("target = \"gpu\""), "{err}");
        let bf16 = ModelConfig { precision: Some(crate::Precision::Bf16), ..ModelConfig::default() };
        assert_eq!(backend.load(&onnx, &bf16).err().unwrap().kind, ErrorKind::UnsupportedOperation);
    }

    #[test]
    fn missing_or_wrong_libraries_are_readable_errors() {
        let dir = std::env::temp_dir().join(format!("edge-infer-ort-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("libonnxruntime.so.1.99.0");
        std::fs::write(&garbage, b"not a shared library").unwrap();
        let cases = [(dir.join("nope.so"), "cannot be used"), (dir.clone(), "not a file"), (garbage.clone(), "")];
        for (library, says) in cases {
            let err =
                OrtBackend::new(OrtOptions { library: Some(library.clone()), ..OrtOptions::default() }).unwrap_err();
            assert_eq!(err.kind, ErrorKind::UnsupportedOperation, "{err}");
            assert!(err.message.contains(says), "{err}");
            assert!(err.message.contains(library.file_name().unwrap().to_str().unwrap()), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(backend().describe().starts_with("ONNX Runtime 1."), "{}", backend().describe());
    }
}
