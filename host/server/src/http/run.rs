//! `ANY /run/{tenant}/{endpoint}[/{rest}]`: an endpoint's guest answers. The guest sees the rest of the path
//! with the query, the caller's headers minus `Authorization` and hop-by-hop headers, plus `x-request-id`.

use super::ApiError;
use super::body::{Body, read_limited};
use crate::Node;
use bytes::Bytes;
use edge_infer_runtime::{GuestCall, GuestError};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;

/// Headers that describe one hop, not the request: never passed to a guest.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(super) async fn handle<B>(
    node: &Arc<Node>,
    tenant_name: &str,
    endpoint_name: &str,
    request: Request<B>,
    request_id: &str,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    let served = node.served();
    let not_found = || ApiError::not_found(format!("no endpoint {endpoint_name} for tenant {tenant_name}"));
    let tenant = served.catalog().tenants.get(tenant_name).ok_or_else(not_found)?;
    let served_endpoint = served.endpoint(tenant_name, endpoint_name).ok_or_else(not_found)?;
    let endpoint = served_endpoint.resolved.clone().map_err(|dangling| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "endpoint_broken",
            format!("endpoint {endpoint_name}: {dangling}"),
        )
    })?;
    if !endpoint.public {
        authorize(tenant, request.headers())?;
    }
    let limits = &tenant.limits;
    let admission = node.admit(tenant_name, limits);
    let admission = admission.map_err(|refusal| ApiError {
        retry_after: Some(refusal.retry_after.as_secs().max(1)),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("tenant {tenant_name} is {}", refusal.reason),
        )
    })?;

    let (parts, body) = request.into_parts();
    let body_limit = limits.max_request_bytes.map_or(node.config().body_limit, |l| l.min(node.config().body_limit));
    let body = read_limited(&parts, body, body_limit).await?;
    let guest_request = guest_request(parts, body, request_id)?;
    let deadline_ms = endpoint.deadline_ms.or(limits.deadline_ms).unwrap_or(node.config().deadline_ms);
    let call = GuestCall {
        tenant: served_endpoint.tenant.clone(),
        endpoint,
        request_id: request_id.to_string(),
        deadline: std::time::Duration::from_millis(deadline_ms),
    };
    let response = node.runtime().handle(call, guest_request).await.map_err(guest_error)?;
    let limit = limits.max_response_bytes;
    let declared =
        response.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let (Some(limit), Some(declared)) = (limit, declared)
        && declared > limit
    {
        return Err(ApiError::internal(format!(
            "the endpoint's response ({declared} bytes) is over this tenant's limit of {limit} bytes"
        )));
    }
    Ok(response.map(|body| {
        let body = body.map_err(|e| Box::new(e) as super::BoxError).boxed_unsync();
        super::body::Metered::new(body, limit, request_id, admission).boxed_unsync()
    }))
}

/// A private endpoint needs one of its tenant's API keys as a bearer token.
fn authorize(tenant: &edge_infer_catalog::Tenant, headers: &HeaderMap) -> Result<(), ApiError> {
    let key = super::auth::bearer(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs an API key (Authorization: Bearer <key>)",
        )
    })?;
    if tenant.key_hashes.contains(&edge_infer_catalog::hash_key(key)) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this key may not call this endpoint"))
    }
}

/// The request as the guest sees it.
fn guest_request(parts: http::request::Parts, body: Bytes, request_id: &str) -> Result<Request<Full<Bytes>>, ApiError> {
    // The path after `/run/{tenant}/{endpoint}`, however many slashes the caller put between the segments.
    let rest = after_segments(parts.uri.path(), 3);
    let rest = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let bad_uri = |e: &dyn std::fmt::Display| {
        ApiError::bad_request("bad_uri", format!("the request URI cannot be passed on: {e}"))
    };
    let authority = match parts.uri.authority() {
        Some(authority) => authority.clone(),
        None => match parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => Authority::try_from(host).map_err(|e| bad_uri(&e))?,
            None => Authority::from_static("localhost"),
        },
    };
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(Scheme::HTTP);
    uri.authority = Some(authority);
    uri.path_and_query = Some(PathAndQuery::try_from(path_and_query).map_err(|e| bad_uri(&e))?);
    let uri = Uri::from_parts(uri).map_err(|e| bad_uri(&e))?;

    // The caller's headers, taken as they are, minus the hop-by-hop ones: those the caller's `Connection`
    // header names first, then the fixed list.
    let mut headers = parts.headers;
    let listed: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').filter_map(|s| HeaderName::try_from(s.trim()).ok()))
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(http::header::AUTHORIZATION);
    headers.insert(X_REQUEST_ID, HeaderValue::from_str(request_id).expect("request ids are header-safe"));

    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// What follows the first `n` non-empty segments of `path`.
fn after_segments(path: &str, n: usize) -> &str {
    let (mut seen, mut start) = (0, 0);
    for segment in path.split('/') {
        let end = start + segment.len();
        if !segment.is_empty() {
            seen += 1;
            if seen == n {
                return &path[end..];
            }
        }
        start = end + 1;
    }
    ""
}

fn guest_error(e: GuestError) -> ApiError {
    match e {
        GuestError::Deadline(d) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline_exceeded",
            format!("the endpoint did not answer within {} ms", d.as_millis()),
        ),
        GuestError::Unavailable(reason) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "endpoint_unavailable",
            format!("the endpoint cannot run: {reason}"),
        ),
        GuestError::Busy => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "every guest instance slot of this node is in use: retry shortly",
            )
        },
        GuestError::Trap(kind) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "guest_trap",
            format!("the endpoint's component failed while handling the request: {kind}"),
        ),
        GuestError::NoResponse => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "guest_no_response",
            "the endpoint's component returned without a response",
        ),
        GuestError::Exit(status) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "guest_exit",
            format!("the endpoint's program exited with status {status} (its stderr is in the node log)"),
        ),
        GuestError::BadOutput(what) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "guest_bad_output",
            format!("the endpoint's program printed no valid CGI response: {what}"),
        ),
        GuestError::GuestErrorCode(code) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "guest_error",
            format!("the endpoint's component failed: {code}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::after_segments;

    #[test]
    fn the_rest_follows_three_segments_whatever_the_slashes() {
        assert_eq!(after_segments("/run/t/e/a/b", 3), "/a/b");
        assert_eq!(after_segments("//run//t/e", 3), "");
        assert_eq!(after_segments("/run/run/run/x", 3), "/x");
        assert_eq!(after_segments("/run/t/e/", 3), "/");
    }
}
