//! The HTTP plumbing every client verb shares: one `reqwest` client with the bearer credential, URLs built
//! from escaped path segments, and the one error shape the node answers with (`{"error":{"code","message"}}`)
//! turned into `error: <message> (<code>, HTTP <status>)`.

use anyhow::Context as _;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// How long to wait for the TCP connection before saying the node is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A node's HTTP API, with the credential to send.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    bearer: Option<String>,
}

impl Api {
    /// A client for the node at `base`, sending `bearer` as `Authorization: Bearer` when given.
    pub fn new(base: &Url, bearer: Option<&str>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("edge-infer-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { http, base: base.clone(), bearer: bearer.map(str::to_owned) })
    }

    /// The URL of `segments` under the base URL; each segment is percent-escaped, so a name is one segment.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A request to `url` with the credential set.
    pub fn request_url(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A request to `segments` under the base URL with the credential set.
    pub fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.request_url(method, self.url(segments))
    }

    /// Sends `request`; a connection failure becomes an error naming the server.
    pub async fn send_raw(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        request.send().await.map_err(|e| self.transport_error(&e))
    }

    /// Sends `request` and decodes a 2xx JSON answer; any other status is an [`ApiError`].
    pub async fn send_json<T: DeserializeOwned>(&self, request: RequestBuilder) -> anyhow::Result<(StatusCode, T)> {
        let response = self.checked(request).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport_error(&e))?;
        let value = serde_json::from_slice(&bytes)
            .with_context(|| format!("unexpected answer from {} (HTTP {status}): not the JSON expected", self.base))?;
        Ok((status, value))
    }

    /// Sends `request` and expects a 2xx answer whose body does not matter (`204 No Content`).
    pub async fn send_empty(&self, request: RequestBuilder) -> anyhow::Result<()> {
        self.checked(request).await.map(drop)
    }

    /// Sends `request`; a non-2xx answer becomes an [`ApiError`].
    async fn checked(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = self.send_raw(request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        Err(ApiError::from_body(status, &bytes).into())
    }

    /// Describes a failure to talk to the node at all, naming it and the innermost cause.
    fn transport_error(&self, e: &reqwest::Error) -> anyhow::Error {
        let cause = root_cause(e);
        if e.is_connect() {
            anyhow::anyhow!("cannot connect to the edge-infer server at {}: {cause}", self.base)
        } else if e.is_timeout() {
            anyhow::anyhow!("the edge-infer server at {} timed out: {cause}", self.base)
        } else if e.is_body() || e.is_decode() {
            anyhow::anyhow!("reading the answer of the edge-infer server at {} failed: {cause}", self.base)
        } else {
            anyhow::anyhow!("request to the edge-infer server at {} failed: {cause}", self.base)
        }
    }
}

/// The deepest error in `e`'s source chain, which says what actually went wrong ("Connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// A non-2xx answer from the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The node's machine-readable code (`not_found`, `conflict`, …), or `http_<status>` when it sent none.
    pub code: String,
    /// What happened, for a person.
    pub message: String,
    /// The node's request id, sent with server-side failures so they can be found in its log.
    pub request_id: Option<String>,
}

/// The node's error body.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    request_id: Option<String>,
}

impl ApiError {
    /// Reads the node's error body; anything else (a proxy's HTML page, nothing at all) is kept as text.
    pub fn from_body(status: StatusCode, body: &[u8]) -> Self {
        if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
            return Self { status, code: error.code, message: error.message, request_id: error.request_id };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let message = if text.is_empty() {
            status.canonical_reason().unwrap_or("no reason given").to_owned()
        } else {
            text.chars().take(300).collect()
        };
        Self { status, code: format!("http_{}", status.as_u16()), message, request_id: None }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, HTTP {}", self.message, self.code, self.status.as_u16())?;
        if let Some(id) = &self.request_id {
            write!(f, ", request id {id}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_read_as_message_code_status() {
        let body = br#"{"error":{"code":"not_found","message":"no model resnet"}}"#;
        let e = ApiError::from_body(StatusCode::NOT_FOUND, body);
        assert_eq!(e.to_string(), "no model resnet (not_found, HTTP 404)");
        let body = br#"{"error":{"code":"internal","message":"boom","request_id":"r-1"}}"#;
        let e = ApiError::from_body(StatusCode::INTERNAL_SERVER_ERROR, body);
        assert_eq!(e.to_string(), "boom (internal, HTTP 500, request id r-1)");
    }

    #[test]
    fn foreign_errors_keep_their_text() {
        let e = ApiError::from_body(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>\n");
        assert_eq!(e.to_string(), "<html>bad gateway</html> (http_502, HTTP 502)");
        let e = ApiError::from_body(StatusCode::UNAUTHORIZED, b"");
        assert_eq!(e.to_string(), "Unauthorized (http_401, HTTP 401)");
    }

    #[test]
    fn names_are_escaped_as_one_segment() {
        let base = Url::parse("http://node:8080/prefix/").unwrap();
        let api = Api::new(&base, None).unwrap();
        assert_eq!(api.url(&["v1", "models", "a/b c"]).as_str(), "http://node:8080/prefix/v1/models/a%2Fb%20c");
        let base = Url::parse("http://node:8080").unwrap();
        let api = Api::new(&base, None).unwrap();
        assert_eq!(api.url(&["admin", "tenants"]).as_str(), "http://node:8080/admin/tenants");
    }
}
