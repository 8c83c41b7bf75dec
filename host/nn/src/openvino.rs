//! The OpenVINO backend (cargo feature `openvino`), through the `openvino` crate with `runtime-linking`: nothing
//! is linked at build time; OpenVINO's C library is loaded at start. ONNX files are read by OpenVINO's ONNX
//! frontend and compiled for the CPU (or the GPU, for a model that asks for `target = "gpu"` on a node that
//! has one — never a silent fallback).
//!
//! Where the library comes from, first found wins: the node's config (`libopenvino_c.so*` itself, or the
//! directory holding it — the PyPI `openvino` wheel's `openvino/libs/` has only the versioned
//! `libopenvino_c.so.2641`, which is fine here), then the `openvino` crate's own search (`OPENVINO_INSTALL_DIR`,
//! `INTEL_OPENVINO_DIR`, `LD_LIBRARY_PATH`, the usual install directories), which needs the unversioned name
//! `libopenvino_c.so` (`scripts/openvino-lib.sh` makes that link in the test venv). One library per process.
//!
//! Precision: OpenVINO runs bf16 on CPUs with AMX unless told otherwise, which moves outputs by ~1e-2 and can
//! flip a near tie, and its CPU plugin quantises activations on the fly next to int8-compressed weights (4e-2
//! off on MiniLM int8); every model is compiled with the f32 inference-precision hint and dynamic quantization
//! off, unless its config asks for `precision = "f16"` or `"bf16"`. Outputs keep the ONNX file's names and
//! order (OpenVINO's own output names are looked up once at load).
//!
//! A compiled model serves several runs at once: each run takes an idle infer request from a small pool (or
//! makes one), and the model is compiled with `streams` streams of `threads` threads, so that that many runs
//! proceed in parallel. Strings do not cross OpenVINO's C API: models with string tensors are refused. The CPU
//! plugin computes i64 in 32 bits: an i64 input beyond ±2^31 is refused rather than silently truncated.
//!
//! All OpenVINO types stay inside this file.

use crate::guard::guarded;
use crate::{Backend, ElementType, LoadedModel, ModelConfig, ModelInfo, NnError, Precision, Target, Tensor};
use openvino::{CompiledModel, Core, DeviceType, InferRequest, PartialShape, RwPropertyKey, Shape};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The library file the `openvino` crate's search looks for.
const UNVERSIONED: &str = "libopenvino_c.so";

/// The CPU property that sets (or, at 0, turns off) dynamic quantization of activations.
const DYNAMIC_QUANTIZATION: &str = "DYNAMIC_QUANTIZATION_GROUP_SIZE";

/// How the OpenVINO backend is set up.
#[derive(Debug, Clone)]
pub struct OpenVinoOptions {
    /// `libopenvino_c.so*` or the directory that holds it; the `openvino` crate's search when `None`.
    pub library: Option<PathBuf>,
    /// Threads one inference may use; at least 1.
    pub threads: usize,
    /// Inferences one model runs at once (OpenVINO streams); at least 1. The node's inference pool size is
    /// the natural value.
    pub streams: usize,
}

impl Default for OpenVinoOptions {
    fn default() -> Self {
        Self { library: None, threads: 1, streams: 1 }
    }
}

static LOADED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The OpenVINO backend.
pub struct OpenVinoBackend {
    core: Mutex<Core>,
    library: PathBuf,
    version: String,
    devices: Vec<String>,
    threads: usize,
    streams: usize,
    /// OpenVINO's own default for [`DYNAMIC_QUANTIZATION`], restored for models that ask for less than f32.
    dynamic_quantization: String,
}

impl std::fmt::Debug for OpenVinoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenVinoBackend").field("library", &self.library).finish_non_exhaustive()
    }
}

fn unavailable(message: impl Into<String>) -> NnError {
    NnError::unsupported(message)
}

/// The library file to load: the configured file, the library in the configured directory, or the
/// `openvino` crate's search.
fn library_file(configured: Option<PathBuf>) -> Result<PathBuf, NnError> {
    let path = match configured {
        None => openvino_sys::library::find().ok_or_else(|| {
            unavailable(format!(
                "no OpenVINO library is configured or found (set [backends.openvino] library, or put \
                 {UNVERSIONED} in OPENVINO_INSTALL_DIR or on LD_LIBRARY_PATH)"
            ))
        })?,
        Some(dir) if dir.is_dir() => {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| unavailable(format!("the OpenVINO directory {} cannot be read: {e}", dir.display())))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(UNVERSIONED)))
                .collect();
            // The unversioned link sorts first; otherwise the newest version.
            names.sort_by_key(|p| (p.file_name().is_some_and(|n| n != UNVERSIONED), std::cmp::Reverse(p.clone())));
            names.into_iter().next().ok_or_else(|| {
                unavailable(format!("the OpenVINO directory {} holds no {UNVERSIONED}*", dir.display()))
            })?
        }
        Some(file) => file,
    };
    let file = std::fs::canonicalize(&path)
        .map_err(|e| unavailable(format!("the OpenVINO library {} cannot be used: {e}", path.display())))?;
    if !file.is_file() {
        return Err(unavailable(format!("the OpenVINO library {} is not a file", file.display())));
    }
    Ok(file)
}

impl OpenVinoBackend {
    /// Loads OpenVINO's C library (once per process) and makes the backend. A missing, unreadable or
    /// incompatible library is an error that names the file, never a panic.
    pub fn new(options: OpenVinoOptions) -> Result<Self, NnError> {
        let library = library_file(options.library)?;
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        match &*loaded {
            Some(done) if *done == library => {}
            Some(done) => {
                return Err(unavailable(format!(
                    "OpenVINO is already loaded from {} in this process; it cannot load {} as well",
                    done.display(),
                    library.display()
                )));
            }
            None => {
                guarded("openvino", "loading OpenVINO", || {
                    openvino_sys::library::load_from(library.clone()).map_err(|e| {
                        unavailable(format!("the OpenVINO library {} cannot be loaded: {e}", library.display()))
                    })
                })?;
                *loaded = Some(library.clone());
            }
        }
        drop(loaded);
        let (core, version, devices, dynamic_quantization) = guarded("openvino", "starting OpenVINO", || {
            let core = Core::new()
                .map_err(|e| unavailable(format!("OpenVINO from {} does not start: {e}", library.display())))?;
            let version = openvino::version().build_number;
            let devices = core
                .available_devices()
                .map_err(|e| unavailable(format!("OpenVINO lists no devices: {e}")))?
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<String>>();
            let key = openvino::PropertyKey::Other(DYNAMIC_QUANTIZATION.into());
            let dynamic_quantization = core.get_property(&DeviceType::CPU, &key).unwrap_or_else(|_| "32".into());
            Ok((core, version, devices, dynamic_quantization))
        })?;
        Ok(Self {
            core: Mutex::new(core),
            library,
            version,
            devices,
            threads: options.threads.max(1),
            streams: options.streams.max(1),
            dynamic_quantization,
        })
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// One line for `edge-infer backends` and the start log: version, library, devices.
    pub fn describe(&self) -> String {
        format!(
            "OpenVINO {} from {}; devices {}; {} stream(s) of {} thread(s) per model; f32 unless a model asks",
            self.version,
            self.library.display(),
            self.devices.join(", "),
            self.streams,
            self.threads
        )
    }

    fn has_gpu(&self) -> bool {
        self.devices.iter().any(|d| d == "GPU" || d.starts_with("GPU."))
    }
}

impl Backend for OpenVinoBackend {
    fn name(&self) -> &'static str {
        "openvino"
    }

    fn load(&self, bytes: &[u8], config: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
        guarded("openvino", "loading a model", || {
            Ok(Arc::new(OpenVinoModel::load(self, bytes, config)?) as Arc<dyn LoadedModel>)
        })
    }
}

struct OpenVinoModel {
    info: ModelInfo,
    /// OpenVINO's port index of each declared input and output, in the file's order.
    input_ports: Vec<usize>,
    output_ports: Vec<usize>,
    compiled: Mutex<CompiledModel>,
    idle: Mutex<Vec<InferRequest>>,
}

fn ov_error(what: &str) -> impl Fn(openvino::InferenceError) -> NnError + '_ {
    move |e| NnError::runtime(format!("openvino: {what}: {e}"))
}

impl OpenVinoModel {
    fn load(backend: &OpenVinoBackend, bytes: &[u8], config: &ModelConfig) -> Result<Self, NnError> {
        let proto = crate::onnx_info::read_proto(bytes)?;
        let info = crate::onnx_info::declared_info(&proto, config)?;
        crate::onnx_info::check_types("openvino", &info, |ty| ty != ElementType::String)?;
        if let Some(spec) = info.inputs.iter().chain(&info.outputs).find(|s| s.name.contains('\0')) {
            return Err(NnError::unsupported(format!("the tensor name {:?} cannot cross OpenVINO's C API", spec.name)));
        }
        let device = match config.target() {
            Target::Cpu => DeviceType::CPU,
            Target::Gpu if backend.has_gpu() => DeviceType::GPU,
            Target::Gpu => {
                return Err(NnError::unsupported(format!(
                    "the model asks for target = \"gpu\", and OpenVINO sees no GPU on this node (devices: {})",
                    backend.devices.join(", ")
                )));
            }
        };
        let cannot = |e: openvino::InferenceError| NnError::unsupported(format!("openvino cannot load the model: {e}"));
        let mut compiled = {
            let mut core = backend.core.lock().unwrap_or_else(|p| p.into_inner());
            let mut model = core.read_model_from_buffer(bytes, None).map_err(cannot)?;
            for (name, dims) in &config.inputs {
                let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
                let shape = PartialShape::new_static(dims.len() as i64, &dims).map_err(cannot)?;
                model.reshape_input_by_name(name, &shape).map_err(cannot)?;
            }
            let precision = match config.precision() {
                Precision::F32 => "f32",
                Precision::F16 => "f16",
                Precision::Bf16 => "bf16",
            };
            core.set_property(&device, &RwPropertyKey::HintInferencePrecision, precision).map_err(cannot)?;
            if device == DeviceType::CPU {
                // The CPU plugin also quantises activations on the fly for int8-compressed weights (MiniLM int8:
                // 4e-2 off onnxruntime); f32 means none of that. Other precisions get OpenVINO's default back.
                let group = if config.precision() == Precision::F32 { "0" } else { &backend.dynamic_quantization };
                core.set_property(&device, &RwPropertyKey::Other(DYNAMIC_QUANTIZATION.into()), group)
                    .map_err(cannot)?;
                let threads = (backend.threads * backend.streams).to_string();
                core.set_property(&device, &RwPropertyKey::NumStreams, &backend.streams.to_string()).map_err(cannot)?;
                core.set_property(&device, &RwPropertyKey::InferenceNumThreads, &threads).map_err(cannot)?;
            }
            core.compile_model(&model, device).map_err(cannot)?
        };
        let input_ports = ports(&info.inputs, compiled.get_input_size(), |i| compiled.get_input_by_index(i), "inputs")?;
        let output_ports =
            ports(&info.outputs, compiled.get_output_size(), |i| compiled.get_output_by_index(i), "outputs")?;
        // The first request now: a model OpenVINO cannot run is refused at upload, not at first use.
        let first = compiled.create_infer_request().map_err(cannot)?;
        Ok(Self { info, input_ports, output_ports, compiled: Mutex::new(compiled), idle: Mutex::new(vec![first]) })
    }

    fn run_on(&self, request: &mut InferRequest, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        for ((spec, tensor), &port) in self.info.inputs.iter().zip(&inputs).zip(&self.input_ports) {
            check_i64_fits(&spec.name, tensor)?;
            let value = to_openvino(tensor).map_err(|e| NnError::invalid(format!("input \"{}\": {e}", spec.name)))?;
            request.set_input_tensor_by_index(port, &value).map_err(ov_error("setting an input"))?;
        }
        request.infer().map_err(ov_error("inference"))?;
        self.info
            .outputs
            .iter()
            .zip(&self.output_ports)
            .map(|(spec, &port)| {
                let value = request.get_output_tensor_by_index(port).map_err(ov_error("reading an output"))?;
                from_openvino(&value, spec.ty)
                    .map_err(|e| NnError::runtime(format!("openvino: output \"{}\": {}", spec.name, e.message)))
            })
            .collect()
    }
}

/// OpenVINO's port for each declared tensor: the port of the same name, else the one at the same position.
fn ports(
    specs: &[crate::TensorSpec],
    count: Result<usize, openvino::InferenceError>,
    port: impl Fn(usize) -> Result<openvino::Node, openvino::InferenceError>,
    what: &str,
) -> Result<Vec<usize>, NnError> {
    let count = count.map_err(ov_error("counting ports"))?;
    if count != specs.len() {
        return Err(NnError::unsupported(format!(
            "openvino sees {count} {what} where the file declares {}",
            specs.len()
        )));
    }
    let names = (0..count).map(|i| port(i).and_then(|p| p.get_name()).unwrap_or_default()).collect::<Vec<String>>();
    Ok(specs.iter().enumerate().map(|(i, s)| names.iter().position(|n| *n == s.name).unwrap_or(i)).collect())
}

impl LoadedModel for OpenVinoModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn backend(&self) -> &'static str {
        "openvino"
    }

    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        guarded("openvino", "running a model", || {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut request = match idle {
                Some(request) => request,
                None => self
                    .compiled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .create_infer_request()
                    .map_err(ov_error("creating an infer request"))?,
            };
            let result = self.run_on(&mut request, inputs);
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(request);
            result
        })
    }
}

/// OpenVINO's CPU plugin computes i64 in 32 bits: a value beyond that would come back changed, so it is refused.
fn check_i64_fits(name: &str, tensor: &Tensor) -> Result<(), NnError> {
    if tensor.ty() != ElementType::I64 {
        return Ok(());
    }
    for value in tensor.bytes().unwrap_or_default().chunks_exact(8).map(|c| i64::from_le_bytes(le(c))) {
        if i32::try_from(value).is_err() {
            return Err(NnError::invalid(format!(
                "input \"{name}\" holds {value}, and OpenVINO computes i64 in 32 bits on the CPU (use another backend \
                 for values beyond ±2^31)"
            )));
        }
    }
    Ok(())
}

/// Little-endian bytes into `N`-byte arrays (`chunks_exact` guarantees the length).
fn le<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut array = [0; N];
    array.copy_from_slice(chunk);
    array
}

fn ov_type(ty: ElementType) -> Option<openvino::ElementType> {
    use openvino::ElementType as Ov;
    Some(match ty {
        ElementType::F16 => Ov::F16,
        ElementType::Bf16 => Ov::Bf16,
        ElementType::F32 => Ov::F32,
        ElementType::F64 => Ov::F64,
        ElementType::I8 => Ov::I8,
        ElementType::I16 => Ov::I16,
        ElementType::I32 => Ov::I32,
        ElementType::I64 => Ov::I64,
        ElementType::U8 => Ov::U8,
        ElementType::U16 => Ov::U16,
        ElementType::U32 => Ov::U32,
        ElementType::U64 => Ov::U64,
        ElementType::Bool => Ov::Boolean,
        ElementType::String => return None,
    })
}

/// Our tensor into OpenVINO's: one copy of the elements.
fn to_openvino(tensor: &Tensor) -> Result<openvino::Tensor, NnError> {
    let (Some(ty), Some(bytes)) = (ov_type(tensor.ty()), tensor.bytes()) else {
        return Err(NnError::unsupported(format!("openvino does not take {} tensors", tensor.ty())));
    };
    let dims: Vec<i64> = tensor.shape().iter().map(|&d| d as i64).collect();
    let failed = |e: openvino::InferenceError| NnError::invalid(format!("openvino cannot make the tensor: {e}"));
    let mut value = openvino::Tensor::new(ty, &Shape::new(&dims).map_err(failed)?).map_err(failed)?;
    if bytes.is_empty() {
        return Ok(value);
    }
    let data = value.get_raw_data_mut().map_err(failed)?;
    if data.len() != bytes.len() {
        return Err(NnError::invalid(format!("openvino made {} bytes for {} given", data.len(), bytes.len())));
    }
    // Bool elements are bytes 0 or 1 already (`Tensor::from_bytes` checks), as OpenVINO's are.
    data.copy_from_slice(bytes);
    Ok(value)
}

/// OpenVINO's tensor into ours: one copy of the elements. OpenVINO keeps the file's I/O types; anything else
/// is an error rather than a silent reinterpretation.
fn from_openvino(value: &openvino::Tensor, declared: ElementType) -> Result<Tensor, NnError> {
    let failed = |e: openvino::InferenceError| NnError::runtime(format!("{e}"));
    let ty = value.get_element_type().map_err(failed)?;
    if Some(ty) != ov_type(declared) {
        return Err(NnError::runtime(format!("OpenVINO returned {ty} where the file declares {declared}")));
    }
    let shape = value.get_shape().map_err(failed)?;
    let dims = shape
        .get_dimensions()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| NnError::runtime(format!("OpenVINO returned the shape {:?}", shape.get_dimensions())))?;
    // An empty tensor may have no buffer at all: never ask for its data.
    let bytes = if value.get_byte_size().map_err(failed)? == 0 { &[] } else { value.get_raw_data().map_err(failed)? };
    Tensor::from_bytes(declared, dims, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixture, venv_file};
    use crate::{Dim, ErrorKind};

    fn backend() -> OpenVinoBackend {
        let versioned = venv_file("openvino/libs", "libopenvino_c.so.");
        OpenVinoBackend::new(OpenVinoOptions { library: Some(versioned), threads: 1, streams: 2 }).unwrap()
    }

    fn load(name: &str) -> Arc<dyn LoadedModel> {
        backend().load(&fixture(name), &ModelConfig::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn identity_round_trips_every_numeric_type_byte_for_byte() {
        for ty in ElementType::ALL {
            let Some(size) = ty.size() else { continue };
            let model = load(&format!("identity_{ty}.onnx"));
            let mut bytes: Vec<u8> = (0..2 * 4 * size)
                .map(|i| if ty == ElementType::Bool { (i % 2) as u8 } else { (i * 37 + 11) as u8 })
                .collect();
            if ty == ElementType::I64 {
                // Within 32 bits (see below): the same low halves, sign-extended.
                bytes = bytes
                    .chunks_exact(8)
                    .flat_map(|c| (i32::from_le_bytes(le(&c[..4])) as i64).to_le_bytes())
                    .collect();
            }
            let x = Tensor::from_bytes(ty, vec![2, 4], bytes).unwrap();
            let out = model.run(vec![x.clone()]).unwrap_or_else(|e| panic!("{ty}: {e}"));
            assert_eq!(out, vec![x], "{ty}");
        }
    }

    #[test]
    fn i64_values_beyond_32_bits_are_refused_not_truncated() {
        let model = load("identity_i64.onnx");
        let tensor = |values: &[i64]| {
            Tensor::from_bytes(
                ElementType::I64,
                vec![1, 4],
                values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
            )
        };
        let fits = tensor(&[i32::MIN as i64, -1, 0, i32::MAX as i64]).unwrap();
        assert_eq!(model.run(vec![fits.clone()]).unwrap(), vec![fits]);
        let err = model.run(vec![tensor(&[0, 1 << 40, 0, 0]).unwrap()]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("input \"x\" holds 1099511627776"), "{err}");
    }

    #[test]
    fn strings_are_refused_at_load_by_name() {
        let err = backend().load(&fixture("identity_string.onnx"), &ModelConfig::default()).err().unwrap();
        assert_eq!(err.kind, ErrorKind::UnsupportedOperation);
        assert_eq!(err.message, "\"x\" is a string tensor, which the openvino backend does not support");
    }

    #[test]
    fn free_and_pinned_dimensions_run_concurrently_with_the_files_names() {
        let model = load("add_batch.onnx");
        assert_eq!(model.info().inputs[0].dims, vec![Dim::Free(Some("N".into())), Dim::Fixed(3)]);
        assert_eq!(model.info().outputs[0].name, "y");
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
        let pinned = ModelConfig { inputs: [("x".to_string(), vec![2, 8])].into(), ..ModelConfig::default() };
        let mlp = backend().load(&fixture("mlp.onnx"), &pinned).unwrap();
        assert_eq!(mlp.info().inputs[0].dims, vec![Dim::Fixed(2), Dim::Fixed(8)]);
        assert_eq!(mlp.run(vec![Tensor::from_f32(vec![2, 8], &[0.0; 16]).unwrap()]).unwrap()[0].shape(), &[2, 4]);
    }

    #[test]
    fn mlp_matches_the_reference_outputs_in_f32() {
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
    fn bad_models_settings_and_libraries_are_errors_not_panics() {
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
        assert_eq!(err.kind, ErrorKind::UnsupportedOperation, "{err}");
        assert!(err.message.contains("NoSuchOp"), "{err}");
        let gpu = ModelConfig { target: Some(Target::Gpu), ..ModelConfig::default() };
        let err = backend.load(&onnx, &gpu).err().unwrap();
        assert_eq!(err.kind, ErrorKind::UnsupportedOperation);
        assert!(err.message.contains("sees no GPU"), "{err}");
        let bf16 = ModelConfig { precision: Some(Precision::Bf16), ..ModelConfig::default() };
        let x = Tensor::from_f32(vec![1, 4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(backend.load(&onnx, &bf16).unwrap().run(vec![x.clone()]).unwrap(), vec![x]);

        let dir = std::env::temp_dir().join(format!("edge-infer-ov-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err =
            OpenVinoBackend::new(OpenVinoOptions { library: Some(dir.clone()), ..Default::default() }).unwrap_err();
        assert!(err.message.contains("holds no libopenvino_c.so"), "{err}");
        let missing = dir.join("libopenvino_c.so.1");
        let err = OpenVinoBackend::new(OpenVinoOptions { library: Some(missing), ..Default::default() }).unwrap_err();
        assert!(err.message.contains("cannot be used"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        // The wheel's directory, through the unversioned link, is the same library.
        let libs = venv_file("openvino/libs", "libopenvino_c.so.").parent().unwrap().to_path_buf();
        let same = OpenVinoBackend::new(OpenVinoOptions { library: Some(libs), ..Default::default() }).unwrap();
        assert!(same.describe().starts_with("OpenVINO 2026."), "{}", same.describe());
    }
}
