//! Test guest: a hostile tenant, for the sandbox limit tests. Each route misbehaves in one way.
//!
//! Routes (on the path without its query):
//! - `/recurse`: recurses without end (a stack overflow).
//! - `/flood?mb=N`: writes N MiB to stdout, then answers `{"flooded_mb":N}` (the node's log must stay capped).
//! - `/huge?mb=N`: streams a response body of N MiB (response size limits).
//! - `/compute-loop?model=M`: calls `compute` on model M (input `x` f32 [1,2]) until stopped.
//! - anything else goes to the ordinary handler: `/ok` answers `{"ok":true}`.
//!
//! It implements the `wasi:http` export by hand, because `/huge` streams with the raw resources.

use edge_infer_guest::bindings::exports::wasi::http::incoming_handler::Guest;
use edge_infer_guest::bindings::wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use edge_infer_guest::nn::{Model, Tensor};
use edge_infer_guest::{Request, Response};
use std::io::Write;

struct Hostile;

impl Guest for Hostile {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        match path.split_once('?') {
            Some(("/huge", query)) => stream_huge(number(query, "mb"), response_out),
            _ => edge_infer_guest::serve(request, response_out, handle),
        }
    }
}

/// The number after `name=` in a query string, 1 when absent or malformed.
fn number(query: &str, name: &str) -> u64 {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok()).unwrap_or(1)
}

fn handle(req: Request) -> Response {
    match req.path_without_query() {
        "/recurse" => Response::json(200, &serde_json::json!({ "depth": recurse(0) })),
        "/flood" => {
            let mb = req.query("mb").and_then(|v| v.parse().ok()).unwrap_or(1u64);
            let line = [b'x'; 1023];
            let mut stdout = std::io::stdout();
            for _ in 0..mb * 1024 {
                // The host may drop what it does not keep; the guest goes on regardless.
                let _ = stdout.write_all(&line).and_then(|()| stdout.write_all(b"\n"));
            }
            Response::json(200, &serde_json::json!({ "flooded_mb": mb }))
        }
        "/compute-loop" => compute_loop(&req.query("model").unwrap_or_default()),
        "/ok" => Response::json(200, &serde_json::json!({ "ok": true })),
        other => Response::error(404, "not_found", format!("no route {other}")),
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    recurse(frame[depth as usize % 64] + 1) + 1
}

fn compute_loop(model: &str) -> Response {
    let model = match Model::load(model) {
        Ok(model) => model,
        Err(e) => return Response::from(e),
    };
    loop {
        let x = Tensor::from_f32(&[1, 2], &[1.0, 2.0]);
        if let Err(e) = model.compute(vec![("x".to_owned(), x)]) {
            return Response::from(e);
        }
    }
}

/// Streams `mb` MiB of body, 64 KiB at a time.
fn stream_huge(mb: u64, response_out: ResponseOutparam) {
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = body.write().expect("the body stream, once");
    let chunk = vec![b'z'; 64 << 10];
    for _ in 0..mb * 16 {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let Ok(permit) = stream.check_write() else { return };
            if permit == 0 {
                stream.subscribe().block();
                continue;
            }
            let n = rest.len().min(permit as usize);
            if stream.write(&rest[..n]).is_err() {
                // The host stopped taking the body (a size limit): nothing more to do.
                return;
            }
            rest = &rest[n..];
        }
    }
    let _ = stream.blocking_flush();
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

edge_infer_guest::bindings::export!(Hostile with_types_in edge_infer_guest::bindings);
