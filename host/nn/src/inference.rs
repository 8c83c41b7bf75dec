//! The one entry point for running a model: check the inputs, queue the work fairly on the inference pool,
//! name the outputs. The wasi:nn host and the Open Inference Protocol handlers both call this.

use crate::batching::{BatchPolicy, Batcher, LearntCurve};
use crate::tensor::ShapeDisplay;
use crate::{ErrorKind, JobTiming, LoadedModel, ModelCache, ModelInfo, NnError, Scheduler, Tensor, validate_inputs};
use edge_infer_metrics::{InferenceLabels, Metrics, TenantLabels};
use std::sync::Arc;

/// The node's inference service: the loaded models, the pool that runs them, and the batcher between.
pub struct Inference {
    models: ModelCache,
    scheduler: Scheduler,
    batcher: Arc<Batcher>,
}

impl Inference {
    /// A service over `models` with a pool of `threads` threads, batching as far as `batching` allows.
    pub fn new(models: ModelCache, threads: usize, batching: BatchPolicy) -> Self {
        let batcher = Arc::new(Batcher::new(batching, models.metrics().clone()));
        Self { models, scheduler: Scheduler::new(threads), batcher }
    }

    /// The measured cost per item at each batch size, per model and input shape (without the batch axis).
    pub fn batch_curves(&self) -> Vec<LearntCurve> {
        self.batcher.curves()
    }

    /// The loaded models.
    pub fn models(&self) -> &ModelCache {
        &self.models
    }

    /// The pool.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.models.metrics()
    }

    /// Runs `model` on named `inputs` for `tenant`: inputs are checked here (a mistake never reaches the
    /// pool), the run waits its fair turn, and the outputs come back named as the model names them.
    pub async fn compute(
        &self,
        tenant: &str,
        model: Arc<dyn LoadedModel>,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor)>, NnError> {
        self.compute_timed(tenant, model, inputs).await.map(|(outputs, _)| outputs)
    }

    /// Like [`Inference::compute`], also saying where the time went (for `Server-Timing`).
    pub async fn compute_timed(
        &self,
        tenant: &str,
        model: Arc<dyn LoadedModel>,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<(Vec<(String, Tensor)>, JobTiming), NnError> {
        let ordered = validate_inputs(model.info(), inputs)?;
        let empty = empty_input(model.info(), &ordered);
        let metrics = self.metrics();
        metrics.queued_jobs.inc();
        let result = if self.batcher.may_batch(model.as_ref(), &ordered) {
            self.batcher.run(&self.scheduler, tenant, model.clone(), ordered).await
        } else {
            let run_model = model.clone();
            let result = self.scheduler.run_timed(tenant, move || run_model.run(ordered)).await;
            if result.is_ok() {
                let labels =
                    edge_infer_metrics::ModelLabels { model: model.id().into(), backend: model.backend().into() };
                metrics.batch_size.get_or_create(&labels).observe(1.0);
            }
            result
        };
        metrics.queued_jobs.dec();
        let (outputs, timing) = result?;
        metrics
            .queue_wait_seconds
            .get_or_create(&TenantLabels { tenant: tenant.into() })
            .observe(timing.queue_wait.as_secs_f64());
        let labels =
            InferenceLabels { tenant: tenant.into(), model: model.id().into(), backend: model.backend().into() };
        metrics.inference_seconds.get_or_create(&labels).observe(timing.run.as_secs_f64());
        let outputs = outputs.map_err(|e| match empty {
            Some(input) if e.kind == ErrorKind::RuntimeError => {
                NnError::invalid(format!("{input} is empty, and the model cannot run on it: {}", e.message))
            }
            _ => e,
        })?;
        let specs = &model.info().outputs;
        if outputs.len() != specs.len() {
            return Err(NnError::runtime(format!(
                "the model declares {} outputs but returned {}",
                specs.len(),
                outputs.len()
            )));
        }
        Ok((specs.iter().map(|s| s.name.clone()).zip(outputs).collect(), timing))
    }
}

/// The first of `inputs` with no elements (a batch of 0), named for an error message: a model may run on it
/// (an identity answers an empty tensor), but most fail deep inside (a `Reshape` of nothing), and that failure
/// is the request's, not the node's.
fn empty_input(info: &ModelInfo, inputs: &[Tensor]) -> Option<String> {
    let (spec, tensor) = info.inputs.iter().zip(inputs).find(|(_, t)| t.is_empty())?;
    Some(format!("input \"{}\" (shape {})", spec.name, ShapeDisplay(tensor.shape())))
}
