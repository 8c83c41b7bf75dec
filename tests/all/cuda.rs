//! ONNX Runtime's CUDA execution provider, for models with `target = "gpu"` (cargo feature `cuda`). These tests
//! need an NVIDIA GPU and the `onnxruntime-gpu` wheel's libraries where the test venv's `onnxruntime` would be,
//! so they are `#[ignore]`d: `cargo test -p edge-infer-tests --features cuda -- --ignored cuda::` on such a
//! machine (BENCHMARKS.md, "On a GPU", says how they ran). Without a GPU, a `target = "gpu"` model is refused
//! at upload by name (`backends::a_backend_or_gpu_that_is_not_there_is_a_clear_400_at_upload`).

use crate::batching::{MODELS, Variant, answers_alone_and_batched_are_identical, catalog, input, worst_difference};
use edge_infer_nn::BatchMode;
use edge_infer_tests::{TestNode, raw_tensor, with_engine_libraries};

/// How far a GPU answer may be from the CPU's, or from itself batched: ONNX Runtime runs f32 on the GPU
/// without TF32, so this is f32 rounding in a different order of sums (cuDNN's algorithms differ from MLAS's).
const TOLERANCE: f32 = 1e-4;

fn gpu() -> Variant {
    Variant { suffix: "cuda", settings: "backend = \"onnxruntime\"\ntarget = \"gpu\"".into(), tolerance: TOLERANCE }
}

fn cpu() -> Variant {
    Variant { suffix: "onnxruntime", settings: "backend = \"onnxruntime\"".into(), tolerance: 0.0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an NVIDIA GPU and onnxruntime-gpu's libraries in the test venv"]
async fn gpu_models_answer_as_the_cpu_does() {
    let node = TestNode::start(&catalog(&[cpu(), gpu()]), with_engine_libraries).await;
    for (model, _, shape, len) in MODELS {
        let mut worst = 0f32;
        for i in 0..8 {
            let mut answers = Vec::new();
            for suffix in ["onnxruntime", "cuda"] {
                let response = raw_tensor(&node, &format!("{model}_{suffix}"), "f32", shape, input(i, len)).await;
                assert_eq!(response.status(), 200, "{model}_{suffix}");
                answers.push(response.bytes().await.unwrap());
            }
            worst = worst.max(worst_difference(&answers[1], &answers[0]));
        }
        eprintln!("{model}: the GPU's answers are at most {worst:e} from the CPU's");
        assert!(worst <= TOLERANCE, "{model}: the GPU's answer is {worst:e} from the CPU's");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an NVIDIA GPU and onnxruntime-gpu's libraries in the test venv"]
async fn batched_gpu_runs_answer_as_gpu_runs_alone() {
    for (model, worst) in answers_alone_and_batched_are_identical(BatchMode::Always, &[gpu()]).await {
        eprintln!("{model}: batched answers are at most {worst:e} from answers alone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs an NVIDIA GPU and onnxruntime-gpu's libraries in the test venv"]
async fn many_gpu_runs_at_once_of_new_shapes_all_answer() {
    // Sessions made and shapes planned while other sessions run: ONNX Runtime fails a run or a load that
    // overlaps cuDNN's graph capture unless the backend keeps them apart.
    let node = TestNode::start(&catalog(&[gpu()]), |config| {
        with_engine_libraries(config);
        config.inference_threads = 4;
        config.batching.mode = BatchMode::Always;
        // Each new batch size is a shape to plan, per session: a few keep the test short.
        config.batching.max_batch_size = 4;
    })
    .await;
    for round in 0..3 {
        let calls = (0..24).map(|i| {
            let node = &node;
            let (model, _, shape, len) = MODELS[i % 2];
            async move {
                let response = raw_tensor(node, &format!("{model}_cuda"), "f32", shape, input(i, len)).await;
                let status = response.status();
                (status, response.text().await.unwrap_or_default())
            }
        });
        for (status, body) in futures_util::future::join_all(calls).await {
            assert_eq!(status, 200, "round {round}: {body}");
        }
    }
}
