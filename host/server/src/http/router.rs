//! Which handler answers which path. Every response leaves here with an `x-request-id`.

use super::body::{Body, full};
use super::{ApiError, admin, run, v1};
use crate::Node;
use bytes::Bytes;
use edge_infer_metrics::{EndpointLabels, RequestLabels};
use http::{HeaderValue, Request, Response, StatusCode};
use std::sync::Arc;
use tracing::Instrument;

/// Answers one request, inside a span that carries its request id.
pub async fn route<B>(node: Arc<Node>, request: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    let request_id = request_id(&request);
    let span =
        tracing::info_span!("request", id = %request_id, method = %request.method(), path = %request.uri().path());
    route_in_span(node, request, request_id).instrument(span).await
}

async fn route_in_span<B>(node: Arc<Node>, request: Request<B>, request_id: String) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    let started = std::time::Instant::now();
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let result = match segments.as_slice() {
        ["healthz"] => Ok(text(StatusCode::OK, "ok")),
        ["readyz"] => match Box::pin(node.readiness()).await {
            Ok(()) => Ok(text(StatusCode::OK, "ready")),
            Err(reason) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", reason)),
        },
        ["metrics"] => metrics(&node, request.headers()),
        ["run", tenant, endpoint, ..] => {
            let result = run::handle(&node, tenant, endpoint, request, &request_id).await;
            count_run(&node, tenant, endpoint, &result, started.elapsed());
            result
        }
        // Boxed: each handler's future is large, and unboxed every request's future would be as large as the
        // largest of them, moved by value on its way to the executor.
        ["admin", rest @ ..] => Box::pin(admin::handle(&node, request, rest)).await,
        ["v1", rest @ ..] => Box::pin(v1::handle(&node, request, rest)).await,
        ["v2", rest @ ..] => Box::pin(super::v2::handle(&node, request, rest, &request_id)).await,
        _ => Err(super::no_route(request.method(), path.clone())),
    };
    let mut response = result.unwrap_or_else(|e| e.into_response(&request_id));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Counts a `/run` answer. Labels name only tenants and endpoints that exist, so a scan of made-up paths
/// cannot blow up the number of series.
fn count_run(
    node: &Node,
    tenant: &str,
    endpoint: &str,
    result: &Result<Response<Body>, ApiError>,
    took: std::time::Duration,
) {
    let status = match result {
        Ok(response) => response.status().as_u16(),
        Err(e) => e.status.as_u16(),
    };
    let known = node.served().endpoint(tenant, endpoint).is_some();
    let (tenant, endpoint) = if known { (tenant, endpoint) } else { ("-", "-") };
    let metrics = node.metrics();
    let labels = RequestLabels { tenant: tenant.into(), endpoint: endpoint.into(), status };
    metrics.requests.get_or_create(&labels).inc();
    let labels = EndpointLabels { tenant: tenant.into(), endpoint: endpoint.into() };
    metrics.request_seconds.get_or_create(&labels).observe(took.as_secs_f64());
}

/// The Prometheus exposition; behind the admin token when the node has one.
fn metrics(node: &Node, headers: &http::HeaderMap) -> Result<Response<Body>, ApiError> {
    if node.config().admin_token.is_some() {
        super::auth::operator(headers, node.config().admin_token.as_deref())?;
    }
    // Prometheus asks for OpenMetrics; anything else gets the classic text format.
    let openmetrics = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let (text, content_type) = if openmetrics {
        (node.metrics().encode(), "application/openmetrics-text; version=1.0.0; charset=utf-8")
    } else {
        (node.metrics().encode_prometheus(), "text/plain; version=0.0.4; charset=utf-8")
    };
    let mut response = Response::new(full(text));
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
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
