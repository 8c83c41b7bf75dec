//! The generic endpoint: tensors in, a model's outputs out, with no pre- or post-processing.
//!
//! The model is `?model=NAME`, else the endpoint's config key `model`. Two request shapes:
//!
//! - JSON (any `Content-Type` but `application/octet-stream`):
//!   `{"inputs":[{"name":"x","type":"f32","shape":[1,3],"data":[1.0,2.0,3.0]}]}` answers
//!   `{"model":NAME,"outputs":[{"name","type","shape","data"}]}`, outputs in the model's order.
//!   `name` may be left out to mean the model's input at the same position; `data` may be nested.
//! - Raw (`Content-Type: application/octet-stream`): one input whose little-endian element bytes are
//!   the body, described by `x-tensor-name`, `x-tensor-type` and `x-tensor-shape: 1,3,224,224`
//!   (each defaults to what `models::info` says of the first input, where that is fixed). The answer
//!   is the raw bytes of output `?output=NAME` (default the first), described by the same headers.
//!
//! Types are `f16 f32 f64 bf16 u8 i32 i64`; f16 and bf16 travel as JSON numbers.
//! Errors: `no_model`, `bad_request` (400), and the model's own as `nn_<code>` with the host's message.

mod json;

use edge_infer_guest::models::{self, ModelInfo};
use edge_infer_guest::nn::{ElementType, Model, Tensor};
use edge_infer_guest::{Request, Response, config};

fn handle(mut req: Request) -> Response {
    run(&mut req).unwrap_or_else(|error| error)
}

fn run(req: &mut Request) -> Result<Response, Response> {
    let name = model_name(req)?;
    let model = Model::load(&name)?;
    let mut info = LazyInfo::new(&name);
    if req.content_type().as_deref() == Some("application/octet-stream") {
        raw(req, &model, &mut info)
    } else {
        json::run(req, &model, &mut info)
    }
}

fn model_name(req: &Request) -> Result<String, Response> {
    req.query("model").filter(|m| !m.is_empty()).or_else(|| config::get("model").filter(|m| !m.is_empty())).ok_or_else(
        || {
            Response::error(
                400,
                "no_model",
                "name the model with ?model=NAME (this endpoint has no `model` in its config)",
            )
        },
    )
}

/// `models::info` for the model, asked at most once and only when a default needs it.
struct LazyInfo<'a> {
    name: &'a str,
    info: Option<ModelInfo>,
}

impl<'a> LazyInfo<'a> {
    fn new(name: &'a str) -> Self {
        LazyInfo { name, info: None }
    }

    fn get(&mut self) -> Result<&ModelInfo, Response> {
        if self.info.is_none() {
            self.info = Some(models::info(self.name)?);
        }
        Ok(self.info.as_ref().expect("just filled"))
    }
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    Response::error(400, "bad_request", message)
}

/// Checks that `data` holds exactly the elements `dims` of `ty` call for.
fn check_len(input: &str, dims: &[u32], ty: ElementType, data_len: usize) -> Result<(), Response> {
    let expected =
        Tensor::byte_len(dims, ty).ok_or_else(|| bad_request(format!("input {input}: shape {dims:?} is too large")))?;
    if expected != data_len {
        return Err(bad_request(format!(
            "input {input}: shape {dims:?} of {ty} needs {expected} bytes, got {data_len}"
        )));
    }
    Ok(())
}

fn raw(req: &mut Request, model: &Model, info: &mut LazyInfo<'_>) -> Result<Response, Response> {
    let name = match req.header("x-tensor-name") {
        Some(name) => name.trim().to_owned(),
        None => first_input(info)?.name.clone(),
    };
    let ty = match req.header("x-tensor-type") {
        Some(ty) => ty.trim().parse::<ElementType>().map_err(bad_request)?,
        None => {
            let input = first_input(info)?;
            input.element_type.to_nn().ok_or_else(|| {
                bad_request(format!("input {} is {}, which wasi:nn cannot carry", input.name, input.element_type))
            })?
        }
    };
    let dims = match req.header("x-tensor-shape") {
        Some(shape) => parse_shape(shape)?,
        None => {
            let input = first_input(info)?;
            let fixed = input
                .fixed_dims()
                .ok_or_else(|| bad_request(format!("send x-tensor-shape: input {} has free dimensions", input.name)))?;
            fixed
                .into_iter()
                .map(|d| u32::try_from(d).map_err(|_| bad_request("the model's shape is too large")))
                .collect::<Result<_, _>>()?
        }
    };
    check_len(&name, &dims, ty, req.body.len())?;

    let tensor = Tensor::new(&dims, ty, std::mem::take(&mut req.body));
    let outputs = model.compute(vec![(name, tensor)])?;
    let wanted = req.query("output");
    let position = match &wanted {
        Some(wanted) => outputs.iter().position(|(n, _)| n == wanted),
        None => (!outputs.is_empty()).then_some(0),
    };
    let Some(position) = position else {
        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        return Err(bad_request(format!("no output {:?}: the model returned {names:?}", wanted.unwrap_or_default())));
    };
    let (name, tensor) = outputs.into_iter().nth(position).expect("position is in range");
    let shape = format_shape(tensor.dims());
    let ty = tensor.ty();
    Ok(Response::bytes(200, "application/octet-stream", tensor.into_data())
        .with_header("x-tensor-name", &name)
        .with_header("x-tensor-type", ty.name())
        .with_header("x-tensor-shape", &shape))
}

fn first_input<'i>(info: &'i mut LazyInfo<'_>) -> Result<&'i models::TensorInfo, Response> {
    let name = info.name.to_owned();
    info.get()?.inputs.first().ok_or_else(|| bad_request(format!("model {name} declares no inputs")))
}

/// Reads `1,3,224,224` (spaces and surrounding brackets allowed; empty for a scalar).
fn parse_shape(shape: &str) -> Result<Vec<u32>, Response> {
    let inner = shape.trim().trim_start_matches('[').trim_end_matches(']').trim();
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .map(|d| d.trim().parse::<u32>().map_err(|e| bad_request(format!("x-tensor-shape {shape:?}: {d:?}: {e}"))))
        .collect()
}

fn format_shape(dims: &[u32]) -> String {
    dims.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

edge_infer_guest::endpoint!(handle);

#[cfg(test)]
mod tests;
