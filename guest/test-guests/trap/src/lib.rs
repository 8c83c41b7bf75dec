//! Test guest: traps at the two moments the host must survive.
//!
//! - `/before`: traps before any response exists (the node answers 500 with a request id).
//! - `/after`: sends status 200 and `hello` of the body, then traps without finishing it
//!   (the client must see a broken body, never a complete one).
//! - `/panic`: panics with a message before responding (the message reaches the node's log).
//! - `/ok`: `{"ok":true}`, to show the next request on the same node is unaffected.
//!
//! It implements the `wasi:http` export by hand, because `/after` needs the raw resources, and
//! hands the ordinary routes to [`edge_infer_guest::serve`].

use edge_infer_guest::bindings::exports::wasi::http::incoming_handler::Guest;
use edge_infer_guest::bindings::wasi::http::types::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use edge_infer_guest::{Request, Response};

struct Trap;

impl Guest for Trap {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let route = path.split_once('?').map_or(path.as_str(), |(p, _)| p);
        match route {
            "/before" => trap(),
            "/after" => respond_then_trap(response_out),
            _ => edge_infer_guest::serve(request, response_out, handle),
        }
    }
}

fn handle(req: Request) -> Response {
    match req.path_without_query() {
        "/ok" => Response::json(200, &serde_json::json!({ "ok": true })),
        "/panic" => panic!("trap guest: panicking on purpose"),
        other => Response::error(404, "not_found", format!("no route {other}")),
    }
}

/// Starts a 200 response, writes and flushes part of its body, and traps with the body unfinished.
fn respond_then_trap(response_out: ResponseOutparam) -> ! {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())]).expect("a valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(200).expect("a valid status");
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = body.write().expect("the body stream, once");
    stream.blocking_write_and_flush(b"hello").expect("the host takes 5 bytes");
    trap()
}

/// A wasm `unreachable`: the instance dies on the spot, with no panic message.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    // Native builds exist only for `cargo clippy`/`test` on the host triple.
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

edge_infer_guest::bindings::export!(Trap with_types_in edge_infer_guest::bindings);
