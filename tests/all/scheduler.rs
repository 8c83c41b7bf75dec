//! The inference pool bounds how many computes run at once, and waiting for it never blocks the HTTP side:
//! with a pool of 2 and one tokio thread, two gated computes run, a third waits, and `/healthz` answers.

use edge_infer::NodeOptions;
use edge_infer_nn::{Backend, Backends, LoadedModel, ModelConfig, ModelInfo, NnError, Tensor};
use edge_infer_tests::{TestNode, client, fixture, toml_path};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Holds every run until opened, counting runs that started.
#[derive(Default)]
struct Gate {
    started: AtomicUsize,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// tract, behind the gate.
struct GatedBackend(Arc<Gate>);

struct GatedModel {
    inner: Arc<dyn LoadedModel>,
    gate: Arc<Gate>,
}

impl Backend for GatedBackend {
    fn name(&self) -> &'static str {
        "gated"
    }

    fn load(&self, bytes: &[u8], config: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
        let config = ModelConfig { backend: None, ..config.clone() };
        let inner = edge_infer_nn::tract::TractBackend.load(bytes, &config)?;
        Ok(Arc::new(GatedModel { inner, gate: self.0.clone() }))
    }
}

impl LoadedModel for GatedModel {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn backend(&self) -> &'static str {
        "gated"
    }

    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        self.gate.started.fetch_add(1, Ordering::SeqCst);
        let open = self.gate.open.lock().unwrap();
        let (_open, timeout) =
            self.gate.opened.wait_timeout_while(open, Duration::from_secs(60), |open| !*open).unwrap();
        assert!(!timeout.timed_out(), "the gate was never opened");
        self.inner.run(inputs)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn two_computes_run_a_third_waits_and_health_still_answers() {
    let gate = Arc::new(Gate::default());
    let mut backends = Backends::default();
    backends.register(Arc::new(GatedBackend(gate.clone())));
    let catalog = format!(
        "[tenants.t.models.g]\npath = {}\nbackend = \"gated\"\n{}",
        toml_path(&fixture("tenant_a_m.onnx")),
        edge_infer_tests::tensor_tenant("t", &[]),
    );
    let node =
        TestNode::start_with(&catalog, |c| c.inference_threads = 2, NodeOptions { backends, ..NodeOptions::default() })
            .await;

    let request = json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]});
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let call = client().post(node.url("/run/t/tensor?model=g")).json(&request).send();
            tokio::spawn(async move {
                let response = call.await.unwrap();
                (response.status(), response.json::<serde_json::Value>().await.unwrap())
            })
        })
        .collect();

    let scheduler = || node.node.runtime().models().inference().scheduler().stats();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (gate.started.load(Ordering::SeqCst) < 2 || scheduler().queued < 1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Give a wrongly started third compute time to show up before checking it did not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate.started.load(Ordering::SeqCst), 2, "exactly two computes run");
    assert_eq!((scheduler().running, scheduler().queued), (2, 1));

    let health = client().get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    gate.open();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outputs"][0]["data"], json!([3.0, -4.0]));
    }
    assert_eq!(gate.started.load(Ordering::SeqCst), 3);
}
