//! The HTTP front: hyper 1 over TCP, HTTP/1.1 and h2c on one port, routing, request bodies with a limit,
//! errors as JSON, and a graceful shutdown that lets in-flight requests finish.

mod admin;
mod auth;
mod body;
mod error;
mod router;
mod run;
mod server;
mod tls;
mod v1;
mod v2;

pub use body::{Body, BoxError};
pub use error::ApiError;
pub use router::route;
pub use server::serve;
pub use tls::Tls;

/// A JSON answer; `204 No Content` gets no body.
pub(crate) fn json(status: http::StatusCode, value: &impl serde::Serialize) -> http::Response<Body> {
    let bytes = if status == http::StatusCode::NO_CONTENT {
        Vec::new()
    } else {
        serde_json::to_vec(value).expect("our JSON values serialise")
    };
    let mut response = http::Response::new(body::full(bytes));
    *response.status_mut() = status;
    if status != http::StatusCode::NO_CONTENT {
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    }
    response
}

/// The 404 for a path no handler serves.
pub(crate) fn no_route(method: &http::Method, path: String) -> ApiError {
    ApiError::not_found(format!("no route for {method} {path}"))
}
