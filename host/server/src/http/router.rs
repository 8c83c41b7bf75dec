//! Which handler answers which path. Every response leaves here with an `x-request-id`.

use super::body::{Body, full};
use super::{admin, run, v1};
use crate::Node;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use std::sync::Arc;

/// Answers one request.
pub async fn route<B>(node: Arc<Node>, request: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    let request_id = request_id(&request);
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let result = match segments.as_slice() {
        ["healthz"] => Ok(text(StatusCode::OK, "ok")),
        ["readyz"] if node.is_ready() => Ok(text(StatusCode::OK, "ready")),
        ["readyz"] => Ok(text(StatusCode::SERVICE_UNAVAILABLE, "not ready")),
        ["run", tenant, endpoint, ..] => {
            let (tenant, endpoint) = (tenant.to_string(), endpoint.to_string());
            run::handle(&node, &tenant, &endpoint, request, &request_id).await
        }
        ["admin", rest @ ..] => admin::handle(&node, request, rest).await,
        ["v1", rest @ ..] => v1::handle(&node, request, rest).await,
        ["v2", rest @ ..] => super::v2::handle(&node, request, rest, &request_id).await,
        _ => Err(super::no_route(request.method(), path.clone())),
    };
    let mut response = result.unwrap_or_else(|e| e.into_response(&request_id));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
}

/// The caller's `x-request-id` when it is a sane token, else a fresh one.
fn request_id<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
