//! Write edge-infer endpoints in plain Rust.
//!
//! An endpoint is a wasm component that the edge-infer node calls for every request on
//! `/run/{tenant}/{endpoint}[/rest]`. It receives the request through the standard
//! `wasi:http/incoming-handler` export and reaches its models by name through the standard
//! `wasi:nn` imports (world `edge:infer/endpoint` in the repository's `wit/` folder). This crate
//! hides the component plumbing behind a few plain types:
//!
//! - [`Request`] and [`Response`]: the whole request in memory, the whole response back;
//! - [`endpoint!`]: exports a `fn(Request) -> Response` as the component's HTTP handler;
//! - [`nn`]: load a model by name and run it on [`nn::Tensor`]s;
//! - [`models`]: what wasi:nn cannot say about a model (input names, free dimensions, metadata);
//! - [`config`]: the endpoint's configuration map.
//!
//! ```no_run
//! use edge_infer_guest::{Request, Response, nn};
//!
//! fn handle(req: Request) -> Response {
//!     let model = match nn::Model::load("model") {
//!         Ok(model) => model,
//!         Err(e) => return e.into(),
//!     };
//!     let input = nn::Tensor::from_f32(&[1, 3], &[1.0, 2.0, 3.0]);
//!     match model.compute(vec![("x".into(), input)]) {
//!         Ok(outputs) => Response::json(200, &outputs[0].1.to_f32()),
//!         Err(e) => e.into(),
//!     }
//! }
//!
//! edge_infer_guest::endpoint!(handle);
//! ```
//!
//! Build endpoints as `cdylib` crates for `wasm32-wasip2`: the `.wasm` cargo writes is the
//! component to upload. Guests that need more than this API (streaming, outbound calls the host
//! will refuse, raw resources) can use the generated [`bindings`] directly and still call
//! [`serve`] for the ordinary parts.

// Lets the generated bindings and the export macro name this crate by one absolute path,
// both from inside it and from the guests that expand `endpoint!`.
extern crate self as edge_infer_guest;

pub mod config;
mod http;
pub mod models;
pub mod nn;

pub use http::{Request, Response, serve};

/// The raw bindings that `wit-bindgen` generates for world `edge:infer/endpoint`.
///
/// Not part of the supported API: test guests use them for what the SDK deliberately does not
/// offer (outbound HTTP, trapping half-way through a response).
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "edge:infer/endpoint",
        // wasi:nn, wasi:config and our own `models` have no ready-made bindings crate to map to.
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "::edge_infer_guest::bindings",
        runtime_path: "::edge_infer_guest::__private::wit_bindgen::rt",
    });
}

/// Paths the macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

/// Exports `handler`, a `fn(Request) -> Response`, as this component's HTTP handler.
///
/// Use it once, in the `cdylib` crate that is the endpoint. For each call it reads the whole
/// request body, calls the handler and writes the response (see [`serve`]).
///
/// ```no_run
/// use edge_infer_guest::{Request, Response};
///
/// fn handle(req: Request) -> Response {
///     Response::bytes(200, "text/plain", format!("you asked for {}", req.path).into_bytes())
/// }
///
/// edge_infer_guest::endpoint!(handle);
/// ```
#[macro_export]
macro_rules! endpoint {
    ($handler:path) => {
        #[doc(hidden)]
        struct __EdgeInferEndpoint;

        impl $crate::bindings::exports::wasi::http::incoming_handler::Guest for __EdgeInferEndpoint {
            fn handle(
                request: $crate::bindings::wasi::http::types::IncomingRequest,
                response_out: $crate::bindings::wasi::http::types::ResponseOutparam,
            ) {
                $crate::serve(request, response_out, $handler);
            }
        }

        $crate::bindings::export!(__EdgeInferEndpoint with_types_in $crate::bindings);
    };
}
