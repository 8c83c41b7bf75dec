//! Checks a request's tensors against what the model declares, before any backend sees them, so that every
//! mistake comes back as one clear message naming the input and both shapes or types.

use crate::tensor::ShapeDisplay;
use crate::{Dim, ModelInfo, NnError, Tensor};
use std::collections::HashMap;

/// Matches named tensors to the model's inputs and checks each one's element type and shape.
///
/// Inputs are matched by name; an input may also be named by its position (`"0"`, `"1"`, …). Every declared
/// input must be given exactly once. Free dimensions may take any size, but a free dimension that appears
/// under the same name in several inputs (a shared batch `N`) must take the same size in all of them.
/// Returns the tensors in the model's input order.
pub fn validate_inputs(info: &ModelInfo, given: Vec<(String, Tensor)>) -> Result<Vec<Tensor>, NnError> {
    let mut slots: Vec<Option<Tensor>> = vec![None; info.inputs.len()];
    for (name, tensor) in given {
        let index = info
            .inputs
            .iter()
            .position(|spec| spec.name == name)
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < info.inputs.len()))
            .ok_or_else(|| {
                let names: Vec<&str> = info.inputs.iter().map(|s| s.name.as_str()).collect();
                NnError::invalid(format!("the model has no input \"{name}\"; its inputs are {names:?}"))
            })?;
        let spec = &info.inputs[index];
        if slots[index].is_some() {
            return Err(NnError::invalid(format!("input \"{}\" is given twice", spec.name)));
        }
        slots[index] = Some(tensor);
    }

    let mut free_sizes: HashMap<&str, (usize, &str)> = HashMap::new();
    let mut ordered = Vec::with_capacity(slots.len());
    for (spec, slot) in info.inputs.iter().zip(slots) {
        let tensor = slot.ok_or_else(|| NnError::invalid(format!("input \"{}\" is missing", spec.name)))?;
        if tensor.ty() != spec.ty {
            return Err(NnError::invalid(format!(
                "input \"{}\": expected element type {}, got {}",
                spec.name,
                spec.ty,
                tensor.ty()
            )));
        }
        let shape = tensor.shape();
        let mismatch = || {
            NnError::invalid(format!(
                "input \"{}\": expected shape {}, got {}",
                spec.name,
                spec.shape_display(),
                ShapeDisplay(shape)
            ))
        };
        if shape.len() != spec.dims.len() {
            return Err(mismatch());
        }
        for (dim, &size) in spec.dims.iter().zip(shape) {
            match dim {
                Dim::Fixed(n) if *n != size as u64 => return Err(mismatch()),
                Dim::Free(Some(sym)) => match free_sizes.get(sym.as_str()) {
                    Some(&(seen, other)) if seen != size => {
                        return Err(NnError::invalid(format!(
                            "input \"{}\": dimension {sym} is {size}, but input \"{other}\" has {sym} = {seen}",
                            spec.name
                        )));
                    }
                    _ => {
                        free_sizes.insert(sym, (size, &spec.name));
                    }
                },
                _ => {}
            }
        }
        ordered.push(tensor);
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ElementType, TensorSpec};

    fn info() -> ModelInfo {
        ModelInfo {
            inputs: vec![
                TensorSpec {
                    name: "x".into(),
                    ty: ElementType::F32,
                    dims: vec![Dim::Free(Some("N".into())), Dim::Fixed(3)],
                },
                TensorSpec { name: "mask".into(), ty: ElementType::F32, dims: vec![Dim::Free(Some("N".into()))] },
            ],
            ..ModelInfo::default()
        }
    }

    fn f32s(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_f32(shape, &vec![0.0; n]).unwrap()
    }

    #[test]
    fn orders_inputs_by_the_model_and_accepts_indices() {
        let given = vec![("0".into(), f32s(vec![2, 3])), ("mask".into(), f32s(vec![2]))];
        let ordered = validate_inputs(&info(), given).unwrap();
        assert_eq!(ordered[0].shape(), &[2, 3]);
        assert_eq!(ordered[1].shape(), &[2]);
    }

    #[test]
    fn a_wrong_shape_names_the_input_and_both_shapes() {
        let given = vec![("x".into(), f32s(vec![2, 4])), ("mask".into(), f32s(vec![2]))];
        let err = validate_inputs(&info(), given).unwrap_err();
        assert_eq!(err.message, "input \"x\": expected shape [N, 3], got [2, 4]");
    }

    #[test]
    fn a_shared_free_dimension_must_agree() {
        let given = vec![("x".into(), f32s(vec![2, 3])), ("mask".into(), f32s(vec![5]))];
        let err = validate_inputs(&info(), given).unwrap_err();
        assert!(err.message.contains("dimension N is 5, but input \"x\" has N = 2"), "{err}");
    }

    #[test]
    fn wrong_type_missing_and_unknown_inputs_are_named() {
        let ints = Tensor::from_bytes(ElementType::I32, vec![2, 3], vec![0; 24]).unwrap();
        let err = validate_inputs(&info(), vec![("x".into(), ints), ("mask".into(), f32s(vec![2]))]);
        assert_eq!(err.unwrap_err().message, "input \"x\": expected element type f32, got i32");
        let err = validate_inputs(&info(), vec![("x".into(), f32s(vec![2, 3]))]).unwrap_err();
        assert_eq!(err.message, "input \"mask\" is missing");
        let err = validate_inputs(&info(), vec![("y".into(), f32s(vec![1]))]).unwrap_err();
        assert!(err.message.starts_with("the model has no input \"y\""), "{err}");
    }
}
