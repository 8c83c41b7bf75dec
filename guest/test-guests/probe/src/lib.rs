//! Test guest: shows the host's tests what a guest sees and what it is denied.
//!
//! Routes (on the path without its query):
//! - `/echo`: the request as received — `{"method","path","headers":[[name,value],…],"body_len"}`.
//! - `/sleep?ms=N`: sleeps N ms, then `{"slept_ms":N}` (concurrency and deadline tests).
//! - `/sandbox?port=P`: tries what a guest must not be granted — environment, arguments, the
//!   file system, a TCP connection and an outbound HTTP request to `127.0.0.1:P` — and reports
//!   each outcome as a string, with the endpoint's config.
//! - `/spin`: never returns, burning CPU (epoch deadline tests).
//! - `/alloc`: allocates 1 MiB blocks until memory runs out (memory limit tests).
//! - `/count`: `{"count":N}`, the requests to `/count` this instance has answered, this one included
//!   (instance reuse tests: a fresh instance always says 1).
//! - `/bad-header`: a response with a header name HTTP forbids (the SDK's refused-response path).
//! - `POST /raw-load`: the body as an ONNX model, through raw `wasi:nn/graph.load`:
//!   `{"loaded":true}`, or `{"error":"<code>","data":"<the host's message>"}`.
//! - anything else: 404.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use edge_infer_guest::bindings::wasi::http::outgoing_handler;
use edge_infer_guest::bindings::wasi::http::types::{Fields, OutgoingRequest, Scheme};
use edge_infer_guest::bindings::wasi::nn::graph::{self, ExecutionTarget, GraphEncoding};
use edge_infer_guest::{Request, Response, config};
use serde_json::json;

fn handle(req: Request) -> Response {
    match req.path_without_query() {
        "/echo" => echo(&req),
        "/sleep" => sleep(&req),
        "/sandbox" => sandbox(&req),
        "/spin" => spin(),
        "/alloc" => alloc(),
        "/count" => count(),
        "/bad-header" => Response::json(200, &json!({})).with_header("bad header", "x"),
        "/raw-load" => raw_load(req.body),
        other => Response::error(404, "not_found", format!("no route {other}")),
    }
}

fn echo(req: &Request) -> Response {
    let headers: Vec<[&str; 2]> = req.headers.iter().map(|(n, v)| [n.as_str(), v.as_str()]).collect();
    Response::json(
        200,
        &json!({
            "method": req.method,
            "path": req.path,
            "headers": headers,
            "body_len": req.body.len(),
        }),
    )
}

fn raw_load(model: Vec<u8>) -> Response {
    match graph::load(&[model], GraphEncoding::Onnx, ExecutionTarget::Cpu) {
        Ok(_) => Response::json(200, &json!({ "loaded": true })),
        Err(e) => Response::json(200, &json!({ "error": format!("{:?}", e.code()), "data": e.data() })),
    }
}

fn count() -> Response {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    Response::json(200, &json!({ "count": COUNT.fetch_add(1, Ordering::Relaxed) + 1 }))
}

fn sleep(req: &Request) -> Response {
    let ms = match req.query("ms").map(|v| v.parse::<u64>()) {
        None => 0,
        Some(Ok(ms)) => ms,
        Some(Err(e)) => return Response::error(400, "bad_request", format!("ms: {e}")),
    };
    std::thread::sleep(Duration::from_millis(ms));
    Response::json(200, &json!({ "slept_ms": ms }))
}

fn sandbox(req: &Request) -> Response {
    let port = match req.query("port").map(|v| v.parse::<u16>()) {
        None => 9,
        Some(Ok(port)) => port,
        Some(Err(e)) => return Response::error(400, "bad_request", format!("port: {e}")),
    };
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<String> = std::env::args().collect();
    let fs_root = outcome(std::fs::read_dir("/").map(drop));
    let tcp = outcome(std::net::TcpStream::connect(("127.0.0.1", port)).map(drop));
    let http = outbound_http(port);
    let config: Vec<String> = config::all().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    Response::json(
        200,
        &json!({
            "env": env,
            "args": args,
            "fs_root": fs_root,
            "tcp": tcp,
            "http": http,
            "config": config,
        }),
    )
}

fn outcome<E: std::fmt::Display>(result: Result<(), E>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    }
}

/// `GET http://127.0.0.1:{port}/` through `wasi:http/outgoing-handler`, which the host must deny.
fn outbound_http(port: u16) -> String {
    let request = OutgoingRequest::new(Fields::new());
    let authority = format!("127.0.0.1:{port}");
    if request.set_scheme(Some(&Scheme::Http)).is_err()
        || request.set_authority(Some(&authority)).is_err()
        || request.set_path_with_query(Some("/")).is_err()
    {
        return "error: the request could not be built".to_owned();
    }
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return format!("error: {code:?}"),
    };
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(_response))) => "ok".to_owned(),
        Some(Ok(Err(code))) => format!("error: {code:?}"),
        Some(Err(())) => "error: the response was already taken".to_owned(),
        None => "error: the response is not ready after it said it was".to_owned(),
    }
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

fn alloc() -> ! {
    const BLOCK: usize = 1 << 20;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; BLOCK];
        // Touch every page so that no allocator or host can leave the memory uncommitted.
        for byte in block.iter_mut().step_by(4096) {
            *byte = 1;
        }
        blocks.push(core::hint::black_box(block));
    }
}

edge_infer_guest::endpoint!(handle);
