//! Errors in the protocol's own shape. The Open Inference Protocol answers every failure with an HTTP error
//! status and the body `{"error": "<message>"}` — not the `{"error": {"code", "message"}}` of the rest of the
//! node's API — so an existing client (tritonclient reads `error` as a string) shows the message as it is.

use edge_infer_nn::{ErrorKind, NnError};
use http::StatusCode;

/// A failed protocol request: a status and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OipError {
    /// The HTTP status: 400 for a bad request, 404 for an unknown model or version, …
    pub status: StatusCode,
    /// What was wrong, naming the input or output and what was expected.
    pub message: String,
}

impl std::fmt::Display for OipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for OipError {}

impl OipError {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// A 400: the request is malformed or does not fit the model.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404: no such model, version or route.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A 500: the node's own failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An inference-layer error as a protocol answer: the caller's mistakes (a wrong shape, type or input
    /// name, an element type the model's backend lacks) are 400s, a missing model 404, a timeout 504, and
    /// failures of the model or the node 500.
    pub fn from_nn(e: NnError) -> Self {
        let status = match e.kind {
            ErrorKind::InvalidArgument | ErrorKind::UnsupportedOperation => StatusCode::BAD_REQUEST,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Security => StatusCode::FORBIDDEN,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::InvalidEncoding | ErrorKind::RuntimeError | ErrorKind::Unknown => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, e.message)
    }

    /// The response body: `{"error": "<message>"}`.
    pub fn body(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        serde_json::to_vec(&Body { error: &self.message }).unwrap_or_else(|_| br#"{"error":"error"}"#.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_spec_shape() {
        let e = OipError::bad_request("input \"x\": \"quoted\"");
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(body, serde_json::json!({"error": "input \"x\": \"quoted\""}));
    }

    #[test]
    fn caller_mistakes_are_400_and_node_failures_500() {
        assert_eq!(OipError::from_nn(NnError::invalid("x")).status, StatusCode::BAD_REQUEST);
        assert_eq!(OipError::from_nn(NnError::unsupported("bf16")).status, StatusCode::BAD_REQUEST);
        assert_eq!(OipError::from_nn(NnError::not_found("m")).status, StatusCode::NOT_FOUND);
        assert_eq!(OipError::from_nn(NnError::runtime("boom")).status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(OipError::from_nn(NnError::new(ErrorKind::Timeout, "t")).status, StatusCode::GATEWAY_TIMEOUT);
    }
}
