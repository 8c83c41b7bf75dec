//! Every error the node answers with, in one shape: `{"error": {"code", "message"}}` and a status. The
//! request id rides in the `x-request-id` header of every response, and in the body where a caller needs it
//! to report a failure.

use super::body::{Body, full};
use http::StatusCode;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`not_found`, `body_too_large`, …).
    pub code: &'static str,
    /// What happened, for a person.
    pub message: String,
    /// For 429 and 503: seconds after which trying again makes sense (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 500 for the node's own failures.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// A catalog refusal as an HTTP answer: 404, 409 or 400.
    pub fn from_edit(e: edge_infer_catalog::EditError) -> Self {
        use edge_infer_catalog::EditError;
        match e {
            EditError::NotFound(m) => Self::not_found(m),
            EditError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            EditError::Invalid(m) => Self::bad_request("invalid", m),
        }
    }

    /// The JSON response, carrying `request_id` for errors on the server's side.
    pub fn into_response(self, request_id: &str) -> http::Response<Body> {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if self.status.is_server_error() {
            error["request_id"] = request_id.into();
        }
        let body = serde_json::to_vec(&serde_json::json!({ "error": error })).expect("JSON of strings");
        let mut response = http::Response::new(full(body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}
