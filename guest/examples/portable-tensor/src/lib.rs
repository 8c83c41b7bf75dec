//! A raw-tensor endpoint that imports standard WASI interfaces only: `wasi:http` and `wasi:nn` (and the
//! `wasi:cli` ones any Rust std guest has), none of edge-infer's own (`edge:infer/models`, `wasi:config`).
//! So the same component runs on edge-infer and on `wasmtime serve -S nn`, the nearest wasm peer, which is
//! what the peers bench compares them on.
//!
//! `POST /?model=NAME`, `Content-Type: application/octet-stream`, the body one input's little-endian element
//! bytes, described by `x-tensor-name`, `x-tensor-type` (`f32`, `u8`, …) and `x-tensor-shape: 1,3,224,224`,
//! all required: without `edge:infer/models` there is no model info to default them from. The answer is the
//! model's first output as raw bytes, described by the same headers. On edge-infer `NAME` is one of the
//! endpoint's models; on `wasmtime serve` it is the name of a preloaded graph (`--wasi nn-graph=…`).
//!
//! `GET /healthz` answers `ok` without touching a model: a liveness route for a deployment of this component
//! alone, and the trivial guest route the HTTP throughput script measures on both hosts.
//!
//! Errors: 400 `bad_request`, and the model's own as `nn_<code>` with the host's message.

use edge_infer_guest::nn::{ElementType, Model, Tensor};
use edge_infer_guest::{Request, Response};

fn handle(mut req: Request) -> Response {
    if req.method == "GET" && req.path_without_query() == "/healthz" {
        return Response::bytes(200, "text/plain", b"ok".to_vec());
    }
    run(&mut req).unwrap_or_else(|error| error)
}

fn run(req: &mut Request) -> Result<Response, Response> {
    let model =
        req.query("model").filter(|m| !m.is_empty()).ok_or_else(|| bad_request("name the model: ?model=NAME"))?;
    let name = header(req, "x-tensor-name")?.to_owned();
    let ty = header(req, "x-tensor-type")?.parse::<ElementType>().map_err(bad_request)?;
    let dims = header(req, "x-tensor-shape")?
        .split(',')
        .map(|d| d.trim().parse::<u32>().map_err(|e| bad_request(format!("x-tensor-shape: {d:?}: {e}"))))
        .collect::<Result<Vec<u32>, _>>()?;
    let expected = Tensor::byte_len(&dims, ty).ok_or_else(|| bad_request(format!("shape {dims:?} is too large")))?;
    if expected != req.body.len() {
        return Err(bad_request(format!("shape {dims:?} of {ty} needs {expected} bytes, got {}", req.body.len())));
    }

    let model = Model::load(&model)?;
    let input = Tensor::new(&dims, ty, std::mem::take(&mut req.body));
    let (name, output) = model
        .compute(vec![(name, input)])?
        .into_iter()
        .next()
        .ok_or_else(|| bad_request("the model returned no outputs"))?;
    let shape = output.dims().iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let ty = output.ty();
    Ok(Response::bytes(200, "application/octet-stream", output.into_data())
        .with_header("x-tensor-name", &name)
        .with_header("x-tensor-type", ty.name())
        .with_header("x-tensor-shape", &shape))
}

fn header<'r>(req: &'r Request, name: &str) -> Result<&'r str, Response> {
    req.header(name).map(str::trim).ok_or_else(|| bad_request(format!("send {name}")))
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    Response::error(400, "bad_request", message)
}

edge_infer_guest::endpoint!(handle);
