//! The tract backend: pure-Rust ONNX inference, always built.
//!
//! A model keeps the free dimensions its file declares. tract runs a plan optimised for a symbolic shape
//! about 4x slower than one optimised for concrete sizes (and some models cannot be optimised symbolically at
//! all), so the decluttered symbolic model is kept and an optimised plan is built per concrete input shape on
//! first use, in a small LRU cache. A model without free dimensions (or with all of them pinned by its config)
//! gets its one plan at load.
//!
//! All tract types stay inside this file.

use crate::elements::Elements;
use crate::guard::{guarded, guarded_as};
use crate::{Backend, Dim, ElementType, LoadedModel, ModelConfig, ModelInfo, NnError, Tensor};
use lru::LruCache;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use tract_onnx::pb;
use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTensor, Symbol, TDim, TValue, TVec,
    TypedModel, TypedRunnableModel, tract_ndarray,
};

type Plan = Arc<TypedRunnableModel>;

/// How many optimised plans (concrete input shapes) one model keeps.
const PLANS_PER_MODEL: usize = 16;

/// The tract backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct TractBackend;

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn load(&self, bytes: &[u8], config: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
        let load = || Ok(Arc::new(TractModel::load(bytes, config)?) as Arc<dyn LoadedModel>);
        guarded_as(crate::ErrorKind::InvalidEncoding, "tract", "loading a model", load)
    }
}

struct TractModel {
    info: ModelInfo,
    specialise: Specialise,
    /// The only plan, when no input has a free dimension.
    fixed: Option<Plan>,
    plans: Mutex<LruCache<Vec<Vec<usize>>, Plan>>,
}

/// How a plan for concrete input shapes is made.
enum Specialise {
    /// Bind the symbols of the decluttered symbolic model (fast: no parsing, no analysis).
    Symbols {
        model: TypedModel,
        /// For each input axis, the symbol a concrete size binds.
        input_symbols: Vec<Vec<Option<Symbol>>>,
    },
    /// Analyse the file again with concrete input facts: for models tract cannot type symbolically
    /// (a `Reshape` whose shape depends on a free dimension, as in PP-OCR's classifier).
    Reanalyse { onnx: tract_onnx::Onnx, proto: Box<pb::ModelProto> },
}

fn invalid_model(e: impl std::fmt::Display) -> NnError {
    NnError::new(crate::ErrorKind::InvalidEncoding, format!("tract cannot load the model: {e}"))
}

impl TractModel {
    fn load(bytes: &[u8], config: &ModelConfig) -> Result<Self, NnError> {
        let onnx = tract_onnx::onnx().with_ignore_output_shapes(true);
        config.require_cpu_f32("tract")?;
        let proto = onnx.proto_model_for_read(&mut &bytes[..]).map_err(invalid_model)?;
        let info = crate::onnx_info::declared_info(&proto, config)?;
        for spec in info.inputs.iter().chain(&info.outputs) {
            datum_type(spec.ty).map_err(|e| NnError::unsupported(format!("\"{}\": {}", spec.name, e.message)))?;
        }
        let unknown: Vec<String> = model_ops(&proto).into_iter().filter(|op| !known_op(op)).collect();
        if !unknown.is_empty() {
            return Err(NnError::unsupported(format!("tract does not implement the operator(s) {unknown:?}")));
        }
        let symbolic = typed_model(&onnx, &proto, &info, None)
            // Some exporters leave stale or clashing shapes in value_info: retry without them.
            .or_else(|first| {
                typed_model(&onnx.clone().with_ignore_value_info(true), &proto, &info, None).map_err(|_| first)
            });

        let all_fixed = info.inputs.iter().all(|i| i.dims.iter().all(|d| d.fixed().is_some()));
        let specialise = match symbolic {
            Ok(model) => {
                let input_symbols = input_symbols(&model)?;
                Specialise::Symbols { model, input_symbols }
            }
            // Only free dimensions can explain a symbolic failure; a model without any is simply broken.
            Err(e) if all_fixed => return Err(e),
            Err(e) => {
                tracing::debug!("no symbolic plan ({e}); plans will be analysed per input shape");
                Specialise::Reanalyse { onnx, proto: Box::new(proto) }
            }
        };
        let fixed = match (&specialise, all_fixed) {
            (Specialise::Symbols { model, .. }, true) => Some(optimise(model.clone())?),
            _ => None,
        };
        let plans = Mutex::new(LruCache::new(NonZeroUsize::new(PLANS_PER_MODEL).expect("non-zero")));
        Ok(Self { info, specialise, fixed, plans })
    }

    /// The optimised plan for these concrete input shapes, built on first use.
    fn plan(&self, inputs: &[Tensor]) -> Result<Plan, NnError> {
        if let Some(plan) = &self.fixed {
            return Ok(plan.clone());
        }
        let key: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        if let Some(plan) = self.plans.lock().expect("plan cache lock").get(&key) {
            return Ok(plan.clone());
        }
        let cannot = |e: &dyn std::fmt::Display| {
            NnError::invalid(format!("tract cannot run the model on input shapes {key:?}: {e}"))
        };
        let concrete = match &self.specialise {
            Specialise::Symbols { model, input_symbols } => {
                let mut values: HashMap<Symbol, TDim> = HashMap::new();
                for (symbols, shape) in input_symbols.iter().zip(&key) {
                    for (symbol, &size) in symbols.iter().zip(shape) {
                        if let Some(symbol) = symbol {
                            values.insert(symbol.clone(), TDim::Val(size as i64));
                        }
                    }
                }
                model.set_symbols(&values).map_err(|e| cannot(&format!("{e:#}")))?
            }
            Specialise::Reanalyse { onnx, proto } => {
                typed_model(onnx, proto, &self.info, Some(&key)).map_err(|e| cannot(&e.message))?
            }
        };
        // Built outside the lock: two first requests of one shape may both build; the cache keeps one.
        let plan = optimise(concrete)?;
        self.plans.lock().expect("plan cache lock").put(key, plan.clone());
        Ok(plan)
    }
}

fn input_symbols(model: &TypedModel) -> Result<Vec<Vec<Option<Symbol>>>, NnError> {
    model
        .input_outlets()
        .map_err(invalid_model)?
        .iter()
        .map(|outlet| {
            let fact = model.outlet_fact(*outlet).map_err(invalid_model)?;
            Ok(fact.shape.iter().map(|d| if let TDim::Sym(s) = d { Some(s.clone()) } else { None }).collect())
        })
        .collect()
}

impl LoadedModel for TractModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn backend(&self) -> &'static str {
        "tract"
    }

    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        // Some of tract's kernels index without checking (a `Gather` of a token id past the vocabulary).
        guarded("tract", "running a model", || {
            let plan = self.plan(&inputs)?;
            let values = inputs.into_iter().map(to_tract).collect::<Result<TVec<TValue>, NnError>>()?;
            let outputs = plan.run(values).map_err(|e| NnError::runtime(format!("tract: {e:#}")))?;
            outputs.into_iter().map(from_tract).collect()
        })
    }
}

/// The decluttered typed model, its inputs typed as declared: free dimensions as symbols, or as the
/// given concrete `shapes`.
fn typed_model(
    onnx: &tract_onnx::Onnx,
    proto: &pb::ModelProto,
    info: &ModelInfo,
    shapes: Option<&[Vec<usize>]>,
) -> Result<TypedModel, NnError> {
    let mut model = onnx.model_for_proto_model(proto).map_err(|e| invalid_model(format!("{e:#}")))?;
    for (index, spec) in info.inputs.iter().enumerate() {
        let dims: TVec<TDim> = spec
            .dims
            .iter()
            .enumerate()
            .map(|(axis, dim)| match (shapes, dim) {
                (Some(shapes), _) => TDim::Val(shapes[index][axis] as i64),
                (None, Dim::Fixed(n)) => TDim::Val(*n as i64),
                (None, Dim::Free(Some(name))) => model.symbols.sym(name).into(),
                (None, Dim::Free(None)) => model.symbols.sym(&format!("{}_{axis}", spec.name)).into(),
            })
            .collect();
        let fact = InferenceFact::dt_shape(datum_type(spec.ty)?, dims);
        model.set_input_fact(index, fact).map_err(invalid_model)?;
    }
    model.into_typed().and_then(|m| m.into_decluttered()).map_err(|e| invalid_model(format!("{e:#}")))
}

fn model_ops(proto: &pb::ModelProto) -> Vec<String> {
    let mut ops: Vec<String> = proto.graph.iter().flat_map(|g| g.node.iter().map(|n| n.op_type.clone())).collect();
    ops.sort();
    ops.dedup();
    ops
}

fn known_op(op: &str) -> bool {
    tract_onnx::onnx().op_register.0.contains_key(op)
}

fn optimise(model: TypedModel) -> Result<Plan, NnError> {
    model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| NnError::runtime(format!("tract cannot optimise the model: {e:#}")))
}

fn datum_type(ty: ElementType) -> Result<DatumType, NnError> {
    Ok(match ty {
        ElementType::F16 => DatumType::F16,
        ElementType::F32 => DatumType::F32,
        ElementType::F64 => DatumType::F64,
        ElementType::I8 => DatumType::I8,
        ElementType::I16 => DatumType::I16,
        ElementType::I32 => DatumType::I32,
        ElementType::I64 => DatumType::I64,
        ElementType::U8 => DatumType::U8,
        ElementType::U16 => DatumType::U16,
        ElementType::U32 => DatumType::U32,
        ElementType::U64 => DatumType::U64,
        ElementType::Bool => DatumType::Bool,
        ElementType::String => DatumType::String,
        ElementType::Bf16 => return Err(NnError::unsupported("the tract backend does not support bf16 tensors")),
    })
}

fn element_type(dt: DatumType) -> Result<ElementType, NnError> {
    Ok(match dt {
        DatumType::F16 => ElementType::F16,
        DatumType::F32 => ElementType::F32,
        DatumType::F64 => ElementType::F64,
        DatumType::I8 => ElementType::I8,
        DatumType::I16 => ElementType::I16,
        DatumType::I32 => ElementType::I32,
        DatumType::I64 => ElementType::I64,
        DatumType::U8 => ElementType::U8,
        DatumType::U16 => ElementType::U16,
        DatumType::U32 => ElementType::U32,
        DatumType::U64 => ElementType::U64,
        DatumType::Bool => ElementType::Bool,
        DatumType::String => ElementType::String,
        other => return Err(NnError::unsupported(format!("the model produced a {other:?} tensor"))),
    })
}

/// Our tensor into tract's: numeric elements as they are (their buffer is a tract tensor already), strings
/// moved.
fn to_tract(tensor: Tensor) -> Result<TValue, NnError> {
    let dt = datum_type(tensor.ty())?;
    let shape = tensor.shape().to_vec();
    let t = match tensor.strings() {
        Some(strings) => tract_ndarray::ArrayD::from_shape_vec(shape, strings.to_vec())
            .map_err(|e| NnError::invalid(format!("{e}")))?
            .into(),
        None => tensor
            .into_elements()
            .expect("a tensor holds bytes or strings")
            .into_tract(dt, &shape)
            .map_err(NnError::invalid)?,
    };
    Ok(t.into())
}

/// tract's tensor into ours: numeric elements as they are, strings copied.
fn from_tract(value: TValue) -> Result<Tensor, NnError> {
    let ty = element_type(value.datum_type())?;
    let shape = value.shape().to_vec();
    if ty == ElementType::String {
        let strings = value
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<String>())
            .map_err(|e| NnError::runtime(format!("{e}")))?;
        return Tensor::from_strings(shape, strings.to_vec());
    }
    let elements = Elements::from_tract(value.into_tensor()).map_err(NnError::runtime)?;
    Tensor::from_elements(ty, shape, elements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate_inputs;

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/fixtures/");
        std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
    }

    fn load(name: &str) -> Arc<dyn LoadedModel> {
        TractBackend.load(&fixture(name), &ModelConfig::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn identity_round_trips_every_numeric_type_byte_for_byte() {
        for ty in ElementType::ALL {
            if matches!(ty, ElementType::Bf16 | ElementType::String) {
                continue;
            }
            let model = load(&format!("identity_{ty}.onnx"));
            let size = ty.size().unwrap();
            // Bool must hold 0 or 1; every other type takes any bit pattern.
            let bytes: Vec<u8> = (0..2 * 4 * size)
                .map(|i| if ty == ElementType::Bool { (i % 2) as u8 } else { (i * 37 + 11) as u8 })
                .collect();
            let x = Tensor::from_bytes(ty, vec![2, 4], bytes.clone()).unwrap();
            let out = model.run(vec![x]).unwrap_or_else(|e| panic!("{ty}: {e}"));
            assert_eq!(out[0].ty(), ty);
            assert_eq!(out[0].shape(), &[2, 4]);
            assert_eq!(out[0].bytes().unwrap(), bytes, "{ty}");
        }
    }

    #[test]
    fn identity_round_trips_strings() {
        let strings: Vec<String> = ["", "é", "a b", "x"].iter().map(|s| s.repeat(3)).collect();
        let x = Tensor::from_strings(vec![1, 4], strings).unwrap();
        assert_eq!(load("identity_string.onnx").run(vec![x.clone()]).unwrap(), vec![x]);
    }

    #[test]
    fn bf16_models_are_refused_with_a_clear_error() {
        let err = TractBackend.load(&fixture("identity_bf16.onnx"), &ModelConfig::default()).err().unwrap();
        assert_eq!(err.kind, crate::ErrorKind::UnsupportedOperation);
        assert!(err.message.contains("bf16"), "{err}");
    }

    #[test]
    fn free_batch_dimension_is_kept_and_each_shape_gets_its_plan() {
        let model = load("add_batch.onnx");
        let input = &model.info().inputs[0];
        assert_eq!(input.dims, vec![Dim::Free(Some("N".into())), Dim::Fixed(3)]);
        assert_eq!(model.info().metadata["labels"], "a\nb\nc");
        for n in [1usize, 3, 1] {
            let values: Vec<f32> = (0..n * 3).map(|i| i as f32).collect();
            let x = Tensor::from_f32(vec![n, 3], &values).unwrap();
            let y = model.run(vec![x]).unwrap().remove(0);
            let expected: Vec<f32> = values.iter().enumerate().map(|(i, v)| v + [1.0, 2.0, 3.0][i % 3]).collect();
            assert_eq!(y.shape(), &[n, 3]);
            assert_eq!(y.to_f32().unwrap(), expected);
        }
    }

    #[test]
    fn pinned_shapes_remove_free_dimensions_and_are_checked() {
        let config = ModelConfig { inputs: [("x".to_string(), vec![2, 8])].into(), ..ModelConfig::default() };
        let model = TractBackend.load(&fixture("mlp.onnx"), &config).unwrap();
        assert_eq!(model.info().inputs[0].dims, vec![Dim::Fixed(2), Dim::Fixed(8)]);
        let wrong = Tensor::from_f32(vec![1, 8], &[0.0; 8]).unwrap();
        let err = validate_inputs(model.info(), vec![("x".into(), wrong)]).unwrap_err();
        assert_eq!(err.message, "input \"x\": expected shape [2, 8], got [1, 8]");
        let bad = ModelConfig { inputs: [("x".to_string(), vec![2, 9])].into(), ..ModelConfig::default() };
        let err = TractBackend.load(&fixture("mlp.onnx"), &bad).err().unwrap();
        assert!(err.message.contains("does not fit its declared shape [N, 8]"), "{err}");
    }

    #[test]
    fn mlp_matches_the_reference_outputs() {
        let samples: serde_json::Value =
            serde_json::from_slice(&fixture("samples.json")).expect("samples.json is JSON");
        let sample = &samples["mlp.onnx"];
        let floats = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
        };
        let x = Tensor::from_f32(vec![2, 8], &floats(&sample["input"]["data"])).unwrap();
        let y = load("mlp.onnx").run(vec![x]).unwrap().remove(0).to_f32().unwrap();
        for (got, want) in y.iter().zip(floats(&sample["output"]["data"])) {
            assert!((got - want).abs() < 1e-5, "{y:?}");
        }
    }

    #[test]
    fn a_real_model_with_anonymous_free_dimensions_runs_at_two_sizes() {
        // PP-OCR's text-line classifier declares x as [-1, 3, "?", "?"]: height and width are independent.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/ch_ppocr_mobile_v2.0_cls_infer.onnx");
        let bytes = std::fs::read(path).expect("models/ fetched by scripts/prepare-test-data.sh");
        let model = TractBackend.load(&bytes, &ModelConfig::default()).unwrap();
        assert_eq!(model.info().inputs[0].dims, vec![Dim::Free(None), Dim::Fixed(3), Dim::Free(None), Dim::Free(None)]);
        for (n, w) in [(1, 192), (2, 160)] {
            let x = Tensor::from_f32(vec![n, 3, 48, w], &vec![0.5; n * 3 * 48 * w]).unwrap();
            let y = model.run(vec![x]).unwrap().remove(0);
            assert_eq!(y.shape(), &[n, 2]);
            let p = y.to_f32().unwrap();
            assert!((p[0] + p[1] - 1.0).abs() < 1e-4, "softmax output {p:?}");
        }
    }

    #[test]
    fn garbage_is_an_invalid_encoding_not_a_panic() {
        for bytes in [&b""[..], b"not a model", &fixture("mlp.onnx")[..40]] {
            let err = TractBackend.load(bytes, &ModelConfig::default()).err().unwrap();
            assert_eq!(err.kind, crate::ErrorKind::InvalidEncoding, "{err}");
        }
    }
}
