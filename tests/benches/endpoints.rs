//! Every example endpoint and every model behind them, through the node and natively, on each backend this
//! build has — and onnxruntime called from Python — side by side in one run (issues #6 and #9).
//!
//! One in-process node serves the example catalog (`examples/catalog.toml`) once per backend, as tenants
//! `demo_tract`, `demo_onnxruntime`, `demo_openvino` (every model pinned to that backend), plus `demo_recording`
//! on a backend that runs tract and records every `compute` a request makes. Each case's request is sent once
//! to the recording tenant; what it recorded is the native work of that request, replayed exactly:
//!
//! - `endpoint_<case>/node_<backend>`: the request over HTTP/1.1 (keep-alive, 127.0.0.1) to the example endpoint
//!   on that backend: decoding, pre- and post-processing in the guest, every model run, the answer;
//! - `endpoint_<case>/native_<backend>`: the same model runs, same inputs, in the same order, on a model loaded
//!   directly into that backend ([`LoadedModel::run`] on the bench thread, no node);
//! - `model_<model>/node_<backend>`: the first recorded run of that model through the `tensor` guest (raw bytes
//!   for one input, JSON for several): the node's per-model overhead with the least guest work;
//! - `model_<model>/native_<backend>`: that one run natively.
//!
//! After each group, `tests/benches/native_onnxruntime.py` replays the same runs with onnxruntime in Python
//! (one intra-op thread, no spinning, as the node's onnxruntime backend is set up) and writes its timings next
//! to criterion's (`target/criterion/python/`). `python3 tests/benches/endpoints_summary.py` prints the
//! tables of `BENCHMARKS.md`. A row whose backend cannot run the model is skipped with the reason printed.

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use edge_infer::{Config, NodeOptions};
use edge_infer_nn::{Backend, Backends, ElementType, LoadedModel, ModelConfig, ModelInfo, NnError, Tensor};
use edge_infer_tests::{TestNode, guests, prepared, repo, with_engine_libraries};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The example requests: endpoint, body, content type.
const CASES: &[(&str, &str, &str)] = &[
    ("orientation", "tests/data/generated/page_0.png", "image/png"),
    ("ocr", "tests/data/generated/ocr/hello_32.png", "image/png"),
    ("vad", "tests/data/generated/vad/speech_16k.wav", "audio/wav"),
    ("embed", "", "application/json"),
    ("faces", "tests/data/generated/faces/group.png", "image/png"),
];

/// Two sentences for the `embed` case.
const SENTENCES: &str = r#"{"sentences": ["A man is eating food.", "The girl is carrying a baby."]}"#;

/// One `LoadedModel::run` a request made: which model (index into [`Recorder::models`]) and its inputs.
#[derive(Clone)]
struct Run {
    model: usize,
    inputs: Vec<Tensor>,
}

/// A model the recorder loaded: its bytes and interface.
type RecordedModel = (Arc<[u8]>, ModelInfo);

/// A backend that runs tract and records what it is asked to run.
#[derive(Default, Clone)]
struct Recorder {
    /// Each distinct model loaded.
    models: Arc<Mutex<Vec<RecordedModel>>>,
    runs: Arc<Mutex<Vec<Run>>>,
}

struct Recorded {
    inner: Arc<dyn LoadedModel>,
    model: usize,
    runs: Arc<Mutex<Vec<Run>>>,
}

impl Backend for Recorder {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn load(&self, bytes: &[u8], config: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
        let config = ModelConfig { backend: None, ..config.clone() };
        let inner = edge_infer_nn::tract::TractBackend.load(bytes, &config)?;
        let mut models = self.models.lock().unwrap();
        models.push((Arc::from(bytes), inner.info().clone()));
        Ok(Arc::new(Recorded { inner, model: models.len() - 1, runs: self.runs.clone() }))
    }
}

impl LoadedModel for Recorded {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn backend(&self) -> &'static str {
        "recording"
    }

    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        self.runs.lock().unwrap().push(Run { model: self.model, inputs: inputs.clone() });
        self.inner.run(inputs)
    }
}

/// The example catalog with one tenant per backend, paths absolute, components the test build's guests.
fn catalog(backends: &[&str]) -> String {
    let examples = repo().join("examples");
    let text = std::fs::read_to_string(examples.join("catalog.toml")).unwrap();
    let example: toml::Table = toml::from_str(&text).unwrap();
    let demo = example["tenants"]["demo"].as_table().unwrap();
    let mut tenants = toml::Table::new();
    for backend in backends {
        let mut tenant = demo.clone();
        for (_, model) in tenant["models"].as_table_mut().unwrap().iter_mut() {
            let model = model.as_table_mut().unwrap();
            let path = examples.join(model["path"].as_str().unwrap());
            model.insert("path".into(), path.display().to_string().into());
            model.insert("backend".into(), backend.to_string().into());
        }
        for (name, component) in tenant["components"].as_table_mut().unwrap() {
            component.as_table_mut().unwrap().insert("path".into(), guest(name).into());
        }
        tenants.insert(format!("demo_{backend}"), tenant.into());
    }
    let mut root = toml::Table::new();
    root.insert("tenants".into(), tenants.into());
    toml::to_string(&root).unwrap()
}

fn guest(component: &str) -> &'static str {
    match component {
        "classify" => guests::CLASSIFY,
        "classify-wasi-nn" => guests::CLASSIFY_WASI_NN,
        "tensor" => guests::TENSOR,
        "vad" => guests::VAD,
        "embed" => guests::EMBED,
        "ocr" => guests::OCR,
        "faces" => guests::FACES,
        other => panic!("the example catalog has a component {other} this bench does not know"),
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    node: TestNode,
    http: reqwest::Client,
    recorder: Recorder,
    /// The backends this build has, each available (libraries from the test venv).
    backends: Vec<&'static str>,
    direct: Backends,
    /// Where the runs are written for Python.
    out: PathBuf,
}

/// A request body and what it is.
#[derive(Clone)]
struct Body {
    bytes: Bytes,
    content_type: String,
    headers: Vec<(String, String)>,
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let backends = edge_infer_nn::compiled_in();
        let recorder = Recorder::default();
        let mut base = Backends::default();
        base.register(Arc::new(recorder.clone()));
        let mut tenants = backends.clone();
        tenants.push("recording");
        let node = rt.block_on(TestNode::start_with(
            &catalog(&tenants),
            |c| {
                with_engine_libraries(c);
                c.inference_threads = 1;
            },
            NodeOptions { backends: base, ..NodeOptions::default() },
        ));
        let mut config = Config::default();
        with_engine_libraries(&mut config);
        let direct = edge_infer::backends::survey(&config, Backends::default()).into_backends().expect("backends");
        let out = repo().join("target").join("bench-endpoints");
        std::fs::create_dir_all(&out).unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        Self { rt, node, http, recorder, backends, direct, out }
    }

    fn post(&self, path: &str, body: &Body) -> Result<Bytes, String> {
        self.rt.block_on(async {
            let mut request = self.http.post(self.node.url(path)).header("content-type", &body.content_type);
            for (name, value) in &body.headers {
                request = request.header(name, value);
            }
            let response = request.body(body.bytes.clone()).send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let answer = response.bytes().await.map_err(|e| e.to_string())?;
            match status.is_success() {
                true => Ok(answer),
                false => Err(format!("{status}: {}", String::from_utf8_lossy(&answer))),
            }
        })
    }

    /// What one request to the recording tenant ran.
    fn record(&self, path: &str, body: &Body) -> Vec<Run> {
        self.recorder.runs.lock().unwrap().clear();
        self.post(path, body).unwrap_or_else(|e| panic!("{path} on the recording tenant: {e}"));
        std::mem::take(&mut *self.recorder.runs.lock().unwrap())
    }

    /// The recorded models loaded directly into `backend`, by recorder index.
    fn load_direct(&self, backend: &str, runs: &[Run]) -> Result<BTreeMap<usize, Arc<dyn LoadedModel>>, String> {
        let models = self.recorder.models.lock().unwrap();
        let config = ModelConfig { backend: Some(backend.into()), ..ModelConfig::default() };
        let engine = self.direct.select(&config).map_err(|e| e.message.clone())?;
        let mut loaded = BTreeMap::new();
        for run in runs {
            if let std::collections::btree_map::Entry::Vacant(slot) = loaded.entry(run.model) {
                slot.insert(engine.load(&models[run.model].0, &config).map_err(|e| e.message.clone())?);
            }
        }
        Ok(loaded)
    }

    /// The model file (as the recorder saw its bytes) and the runs, for Python.
    fn write_runs(&self, case: &str, runs: &[Run]) -> PathBuf {
        let dir = self.out.join(case);
        std::fs::create_dir_all(&dir).unwrap();
        let models = self.recorder.models.lock().unwrap();
        let mut manifest = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            let (bytes, info) = &models[run.model];
            let model_file = self.out.join(format!("model_{}.onnx", run.model));
            if !model_file.exists() {
                std::fs::write(&model_file, bytes).unwrap();
            }
            let inputs: Vec<Value> = run
                .inputs
                .iter()
                .zip(&info.inputs)
                .enumerate()
                .map(|(j, (tensor, spec))| {
                    let file = dir.join(format!("run{i}_in{j}.bin"));
                    std::fs::write(&file, tensor.bytes().expect("numeric input")).unwrap();
                    json!({"name": spec.name, "type": tensor.ty().name(), "shape": tensor.shape(), "file": file})
                })
                .collect();
            manifest.push(json!({"model": model_file, "inputs": inputs}));
        }
        let path = dir.join("runs.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&json!({"case": case, "runs": manifest})).unwrap()).unwrap();
        path
    }
}

/// The `tensor` guest request for one run: raw bytes for a single input, JSON for several.
fn tensor_body(info: &ModelInfo, run: &Run) -> Option<Body> {
    if let [tensor] = run.inputs.as_slice() {
        let shape: Vec<String> = tensor.shape().iter().map(|d| d.to_string()).collect();
        return Some(Body {
            bytes: Bytes::copy_from_slice(tensor.bytes()?),
            content_type: "application/octet-stream".into(),
            headers: vec![
                ("x-tensor-name".into(), info.inputs[0].name.clone()),
                ("x-tensor-type".into(), tensor.ty().name().into()),
                ("x-tensor-shape".into(), shape.join(",")),
            ],
        });
    }
    let inputs: Option<Vec<Value>> = run
        .inputs
        .iter()
        .zip(&info.inputs)
        .map(|(tensor, spec)| {
            Some(json!({"name": spec.name, "type": tensor.ty().name(), "shape": tensor.shape(), "data": values(tensor)?}))
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "inputs": inputs? })).unwrap();
    Some(Body { bytes: body.into(), content_type: "application/json".into(), headers: Vec::new() })
}

/// A tensor's elements as JSON numbers (the types the example models take).
fn values(tensor: &Tensor) -> Option<Value> {
    let bytes = tensor.bytes()?;
    Some(match tensor.ty() {
        ElementType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
        ElementType::I64 => bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
        ElementType::I32 => bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect(),
        _ => return None,
    })
}

/// Benches `node_<backend>` (HTTP to `path` on each backend's tenant) and `native_<backend>` (the runs,
/// replayed), then times the runs in Python.
fn rows(group: &mut BenchmarkGroup<'_, WallTime>, f: &Fixture, case: &str, path: &str, body: &Body, runs: &[Run]) {
    for backend in &f.backends {
        let path = path.replace("{tenant}", &format!("demo_{backend}"));
        match f.post(&path, body) {
            Ok(_) => {
                group.bench_function(format!("node_{backend}"), |b| b.iter(|| f.post(&path, body).unwrap()));
            }
            Err(e) => eprintln!("skipped {case}/node_{backend}: {e}"),
        }
        match f.load_direct(backend, runs) {
            Ok(models) => {
                group.bench_function(format!("native_{backend}"), |b| {
                    b.iter(|| {
                        for run in runs {
                            models[&run.model].run(run.inputs.clone()).expect("native run");
                        }
                    })
                });
            }
            Err(e) => eprintln!("skipped {case}/native_{backend}: {e}"),
        }
    }
    let manifest = f.write_runs(case, runs);
    let python = repo().join(".venv/bin/python");
    let status = std::process::Command::new(&python)
        .arg(repo().join("tests/benches/native_onnxruntime.py"))
        .arg(&manifest)
        .arg(repo().join("target/criterion/python").join(format!("{case}.json")))
        .status()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(status.success(), "native_onnxruntime.py failed on {case}");
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let f = Fixture::new();
    let mut firsts: BTreeMap<String, (usize, Run)> = BTreeMap::new();
    for (case, file, content_type) in CASES {
        let bytes = match *file {
            "" => Bytes::from_static(SENTENCES.as_bytes()),
            file => Bytes::from(std::fs::read(prepared(file)).unwrap()),
        };
        let body = Body { bytes, content_type: content_type.to_string(), headers: Vec::new() };
        let runs = f.record(&format!("/run/demo_recording/{case}"), &body);
        assert!(!runs.is_empty(), "{case} ran no model");
        eprintln!("{case}: {} model run(s) per request", runs.len());
        for run in &runs {
            if !firsts.values().any(|(model, _)| *model == run.model) {
                let name = model_name(&f.recorder.models.lock().unwrap()[run.model].0);
                firsts.insert(name, (run.model, run.clone()));
            }
        }
        let mut group = c.benchmark_group(format!("endpoint_{case}"));
        rows(&mut group, &f, &format!("endpoint_{case}"), &format!("/run/{{tenant}}/{case}"), &body, &runs);
        group.finish();
    }
    for (name, (model, run)) in &firsts {
        let info = f.recorder.models.lock().unwrap()[*model].1.clone();
        let Some(body) = tensor_body(&info, run) else {
            eprintln!("skipped model {name}: an input type the tensor guest's JSON does not carry");
            continue;
        };
        let mut group = c.benchmark_group(format!("model_{name}"));
        let path = format!("/run/{{tenant}}/tensor?model={name}");
        rows(&mut group, &f, &format!("model_{name}"), &path, &body, std::slice::from_ref(run));
        group.finish();
    }
    c.final_summary();
}

/// The example catalog's name for a model, found by its bytes.
fn model_name(bytes: &[u8]) -> String {
    let examples = repo().join("examples");
    let text = std::fs::read_to_string(examples.join("catalog.toml")).unwrap();
    let example: toml::Table = toml::from_str(&text).unwrap();
    for (name, model) in example["tenants"]["demo"]["models"].as_table().unwrap() {
        let path: &Path = Path::new(model["path"].as_str().unwrap());
        if std::fs::read(examples.join(path)).is_ok_and(|b| b == bytes) {
            return name.clone();
        }
    }
    panic!("a recorded model is not in the example catalog")
}
