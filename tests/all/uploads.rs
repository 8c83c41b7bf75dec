//! Tenants, keys and uploads over HTTP: the operator creates tenants, a tenant uploads a model and a
//! component, binds them to an endpoint, calls it, versions and rolls back; tenants never see each other;
//! bad uploads are clear 4xx answers; everything acknowledged survives a restart without recompiling.

use edge_infer_tests::{TestNode, client, fixture, guests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin-secret";

async fn node_at(data: &std::path::Path) -> TestNode {
    let data = data.to_path_buf();
    TestNode::start("", move |c| {
        c.admin_token = Some(ADMIN.into());
        c.data_dir = data;
        c.catalog = None;
        c.upload_limit = 8 << 20;
    })
    .await
}

/// Sends a request with an optional bearer token and body; returns the status and the JSON body (or Null).
async fn call(
    node: &TestNode,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, node.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn create_tenant(node: &TestNode, name: &str) -> String {
    let (status, body) =
        call(node, Method::POST, "/admin/tenants", Some(ADMIN), Some(json!({"name": name}).to_string().into_bytes()))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_key"].as_str().unwrap().to_string()
}

fn file(path: impl AsRef<std::path::Path>) -> Option<Vec<u8>> {
    Some(std::fs::read(path).unwrap())
}

fn x() -> Vec<u8> {
    json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]}).to_string().into_bytes()
}

async fn infer(node: &TestNode, key: Option<&str>) -> (StatusCode, Value) {
    call(node, Method::POST, "/run/acme/e", key, Some(x())).await
}

/// A node keeps loaded only what its catalog names: a replaced version, a version an endpoint stopped pinning and
/// a deleted model are unloaded, and a version that comes back loads again at its first request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_the_catalog_no_longer_names_are_unloaded() {
    let data = tempfile::tempdir().unwrap();
    let node = node_at(data.path()).await;
    let a = create_tenant(&node, "acme").await;
    let loaded = || node.node.runtime().models().inference().models().len();
    let put =
        |path: &'static str, body: Value| call(&node, Method::PUT, path, Some(&a), Some(body.to_string().into_bytes()));

    assert_eq!(call(&node, Method::PUT, "/v1/models/m", Some(&a), file(fixture("tenant_a_m.onnx"))).await.0, 201);
    assert_eq!(loaded(), 1);
    assert_eq!(call(&node, Method::PUT, "/v1/models/m", Some(&a), file(fixture("tenant_b_m.onnx"))).await.0, 201);
    assert_eq!(loaded(), 1, "version 1 was replaced");

    assert_eq!(call(&node, Method::PUT, "/v1/components/tensor", Some(&a), file(guests::TENSOR)).await.0, 201);
    let pinned = json!({"component": "tensor", "models": {"m": "m@1"}, "config": {"model": "m"}});
    assert_eq!(put("/v1/endpoints/e", pinned).await.0, StatusCode::CREATED);
    assert_eq!(infer(&node, Some(&a)).await.1["outputs"][0]["data"], json!([3.0, -4.0]));
    assert_eq!(loaded(), 2, "the pinned version 1 is back");

    let unpinned = json!({"component": "tensor", "models": {"m": "m"}, "config": {"model": "m"}});
    assert_eq!(put("/v1/endpoints/e", unpinned).await.0, StatusCode::CREATED);
    assert_eq!(loaded(), 1, "nothing pins version 1 now");
    assert_eq!(infer(&node, Some(&a)).await.1["outputs"][0]["data"], json!([101.5, 98.0]));

    assert_eq!(call(&node, Method::DELETE, "/v1/endpoints/e", Some(&a), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&node, Method::DELETE, "/v1/models/m", Some(&a), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(loaded(), 0);
    let metrics = node.node.metrics();
    assert_eq!((metrics.models_loaded.get(), metrics.model_bytes.get()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_bind_call_version_roll_back_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let node = node_at(data.path()).await;
    let a = create_tenant(&node, "acme").await;
    let b = create_tenant(&node, "beta").await;

    let (status, model) = call(&node, Method::PUT, "/v1/models/m", Some(&a), file(fixture("tenant_a_m.onnx"))).await;
    assert_eq!(status, StatusCode::CREATED, "{model}");
    assert_eq!(model["version"], 1);
    assert_eq!(model["inputs"], json!([{"name": "x", "type": "f32", "dims": [1, 2]}]));
    let (status, component) = call(&node, Method::PUT, "/v1/components/tensor", Some(&a), file(guests::TENSOR)).await;
    assert_eq!(status, StatusCode::CREATED, "{component}");
    assert!(component["exports"].to_string().contains("wasi:http/incoming-handler"), "{component}");
    let endpoint = json!({"component": "tensor", "models": {"m": "m"}, "config": {"model": "m"}});
    let (status, body) =
        call(&node, Method::PUT, "/v1/endpoints/e", Some(&a), Some(endpoint.to_string().into_bytes())).await;
    assert_eq!((status, body["version"].clone()), (StatusCode::CREATED, json!(1)), "{body}");

    // Private endpoint: no key 401, another tenant's key 403, its own key runs.
    assert_eq!(infer(&node, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(infer(&node, Some(&b)).await.0, StatusCode::FORBIDDEN);
    let (status, out) = infer(&node, Some(&a)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["outputs"][0]["data"], json!([3.0, -4.0]));

    // A new model version is served at once through the unpinned alias.
    let (status, v2) = call(&node, Method::PUT, "/v1/models/m", Some(&a), file(fixture("tenant_b_m.onnx"))).await;
    assert_eq!((status, v2["version"].clone()), (StatusCode::CREATED, json!(2)));
    assert_eq!(infer(&node, Some(&a)).await.1["outputs"][0]["data"], json!([101.5, 98.0]));
    // The same bytes again change nothing.
    let (status, same) = call(&node, Method::PUT, "/v1/models/m", Some(&a), file(fixture("tenant_b_m.onnx"))).await;
    assert_eq!((status, same["version"].clone()), (StatusCode::OK, json!(2)));
    // Pin version 1 in endpoint version 2, then roll back to endpoint version 1 (current model, v2).
    let pinned = json!({"component": "tensor", "models": {"m": "m@1"}, "config": {"model": "m"}});
    let (status, _) =
        call(&node, Method::PUT, "/v1/endpoints/e", Some(&a), Some(pinned.to_string().into_bytes())).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(infer(&node, Some(&a)).await.1["outputs"][0]["data"], json!([3.0, -4.0]));
    let (status, rolled) = call(&node, Method::POST, "/v1/endpoints/e/rollback", Some(&a), None).await;
    assert_eq!((status, rolled["current"].clone()), (StatusCode::OK, json!(1)));
    assert_eq!(infer(&node, Some(&a)).await.1["outputs"][0]["data"], json!([101.5, 98.0]));

    let (_, listed) = call(&node, Method::GET, "/v1/endpoints", Some(&a), None).await;
    assert_eq!(listed["endpoints"][0]["current"], 1);
    assert_eq!(listed["endpoints"][0]["versions"].as_array().unwrap().len(), 2);
    let (status, _) = call(&node, Method::DELETE, "/v1/models/m", Some(&a), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a model an endpoint uses cannot go");

    // Restart on the same data directory: everything is there, and nothing is compiled again.
    drop(node);
    let node = node_at(data.path()).await;
    let (status, stats) = call(&node, Method::GET, "/admin/stats", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["components_compiled"], 0, "{stats}");
    assert!(stats["components_from_cache"].as_u64().unwrap() >= 1, "{stats}");
    let (status, out) = infer(&node, Some(&a)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["outputs"][0]["data"], json!([101.5, 98.0]));
    let (_, models) = call(&node, Method::GET, "/v1/models/m", Some(&a), None).await;
    assert_eq!((models["current"].clone(), models["versions"].as_array().unwrap().len()), (json!(2), 2));

    // Key rotation revokes the old key.
    let (status, rotated) = call(&node, Method::POST, "/admin/tenants/acme/keys", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(call(&node, Method::GET, "/v1/models", Some(&a), None).await.0, StatusCode::UNAUTHORIZED);
    let new_key = rotated["api_key"].as_str().unwrap();
    assert_eq!(call(&node, Method::GET, "/v1/models", Some(new_key), None).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_see_or_touch_each_others_artifacts() {
    let data = tempfile::tempdir().unwrap();
    let node = node_at(data.path()).await;
    let a = create_tenant(&node, "acme").await;
    let b = create_tenant(&node, "beta").await;
    assert_eq!(
        call(&node, Method::PUT, "/v1/models/m", Some(&a), file(fixture("tenant_a_m.onnx"))).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&node, Method::PUT, "/v1/components/tensor", Some(&b), file(guests::TENSOR)).await.0,
        StatusCode::CREATED
    );

    for (method, path) in [(Method::GET, "/v1/models/m"), (Method::DELETE, "/v1/models/m")] {
        let (status, body) = call(&node, method, path, Some(&b), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, listed) = call(&node, Method::GET, "/v1/models", Some(&b), None).await;
    assert_eq!(listed["models"], json!([]));
    // Beta's endpoint cannot name acme's model.
    let endpoint = json!({"component": "tensor", "models": {"m": "m"}});
    let (status, body) =
        call(&node, Method::PUT, "/v1/endpoints/e", Some(&b), Some(endpoint.to_string().into_bytes())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("model m does not exist"), "{body}");
    // Beta's own tensor endpoint cannot load acme's m by name.
    let endpoint = json!({"component": "tensor", "public": true});
    assert_eq!(
        call(&node, Method::PUT, "/v1/endpoints/t", Some(&b), Some(endpoint.to_string().into_bytes())).await.0,
        StatusCode::CREATED
    );
    let (status, body) = call(&node, Method::POST, "/run/beta/t?model=m", None, Some(x())).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("nn_not_found")), "{body}");

    assert_eq!(call(&node, Method::GET, "/v1/models", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&node, Method::GET, "/v1/models", Some("ei_not_a_key"), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&node, Method::GET, "/admin/tenants", Some(&a), None).await.0, StatusCode::UNAUTHORIZED);
    // reqwest resolves `..` itself: say it raw.
    let head = format!(
        "PUT /v1/models/.. HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {a}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let answer = edge_infer_tests::raw_exchange(node.addr, &head, b"").await;
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("invalid_name"), "{answer}");
    let long = format!("/v1/models/{}", "a".repeat(65));
    for path in ["/v1/models/a%2Fb", "/v1/models/a%00b", long.as_str()] {
        let (status, body) = call(&node, Method::PUT, path, Some(&a), file(fixture("tenant_a_m.onnx"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_name", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_clear_4xx_and_the_node_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let node = node_at(data.path()).await;
    let a = create_tenant(&node, "acme").await;
    let onnx = std::fs::read(fixture("identity_f32.onnx")).unwrap();
    let unknown_op = {
        let at = onnx.windows(8).position(|w| w == b"Identity").unwrap();
        let mut bytes = onnx.clone();
        bytes[at..at + 8].copy_from_slice(b"NoSuchOp");
        bytes
    };
    let wasm = std::fs::read(guests::TENSOR).unwrap();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let empty_component = b"\0asm\x0d\0\x01\0".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("/v1/models/m", b"not onnx at all".to_vec(), "invalid_model", "cannot load"),
        ("/v1/models/m", onnx[..onnx.len() / 2].to_vec(), "invalid_model", "cannot load"),
        ("/v1/models/m", unknown_op, "invalid_model", "NoSuchOp"),
        ("/v1/components/c", wasm[..wasm.len() / 2].to_vec(), "invalid_component", "does not compile"),
        ("/v1/components/c", core_module, "invalid_component", "exporting `_start`"),
        ("/v1/components/c", empty_component, "invalid_component", "does not export wasi:http/incoming-handler"),
        ("/v1/components/c", b"garbage".to_vec(), "invalid_component", "not a wasm component"),
        ("/v1/endpoints/e", b"{not json".to_vec(), "bad_json", "expected"),
        ("/v1/endpoints/e", br#"{"component": "missing"}"#.to_vec(), "invalid", "component missing does not exist"),
    ];
    for (path, body, code, says) in cases {
        let (status, answer) = call(&node, Method::PUT, path, Some(&a), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{path}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{path}: {answer}");
    }
    // Over the upload limit: refused from the announced length, before the body is sent.
    let head = format!(
        "PUT /v1/models/big HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {a}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        9 << 20
    );
    let answer = edge_infer_tests::raw_exchange(node.addr, &head, b"").await;
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("body_too_large"), "{answer}");
    let (status, answer) = call(&node, Method::PUT, "/v1/models/m", Some(&a), file(fixture("tenant_a_m.onnx"))).await;
    assert_eq!(status, StatusCode::CREATED, "still accepting good uploads: {answer}");
    let (_, listed) = call(&node, Method::GET, "/v1/components", Some(&a), None).await;
    assert_eq!(listed["components"], json!([]), "no refused upload entered the catalog");

    // Model quotas: at most 2 models of at most 200 bytes (the fixtures are 140-350 bytes).
    let limits = json!({"max_models": 2, "max_model_bytes": 200}).to_string().into_bytes();
    assert_eq!(
        call(&node, Method::PUT, "/admin/tenants/acme/limits", Some(ADMIN), Some(limits)).await.0,
        StatusCode::OK
    );
    let small = std::fs::read(fixture("identity_u8.onnx")).unwrap();
    assert!(small.len() <= 200, "fixture size {}", small.len());
    let (status, body) = call(&node, Method::PUT, "/v1/models/big", Some(&a), file(fixture("mlp.onnx"))).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("quota_exceeded")),
        "{body}"
    );
    assert_eq!(
        call(&node, Method::PUT, "/v1/models/second", Some(&a), Some(small.clone())).await.0,
        StatusCode::CREATED
    );
    let (status, body) = call(&node, Method::PUT, "/v1/models/third", Some(&a), Some(small.clone())).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("quota_exceeded")), "{body}");
    // A new version of an existing model is not a new model.
    assert_eq!(
        call(&node, Method::PUT, "/v1/models/second", Some(&a), file(fixture("identity_i8.onnx"))).await.0,
        StatusCode::CREATED
    );
}
