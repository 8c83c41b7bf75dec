//! The response body type every handler returns, and reading request bodies under the node's limit.

use super::ApiError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

/// Any error a response body may end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: a buffer, or a guest's stream.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// Reads the whole request body, refusing with 413 as soon as it passes `limit` bytes — whether the client
/// announced the length or streams it chunked.
pub async fn read_limited<B>(parts: &http::request::Parts, body: B, limit: u64) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        ApiError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    let announced = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request("body_unreadable", format!("the request body could not be read: {e}"))),
    }
}

/// A guest's response body under the tenant's response size limit, holding the request's admission (its
/// concurrency slot) until the last byte is sent. Past the limit the stream ends in an error: the client sees
/// a broken response, never a silently truncated one that looks complete.
pub struct Metered<B> {
    inner: B,
    sent: u64,
    limit: Option<u64>,
    request_id: String,
    _admission: crate::quota::Admission,
}

impl<B> Metered<B> {
    /// Meters `inner`.
    pub fn new(inner: B, limit: Option<u64>, request_id: &str, admission: crate::quota::Admission) -> Self {
        Self { inner, sent: 0, limit, request_id: request_id.to_string(), _admission: admission }
    }
}

impl<B> http_body::Body for Metered<B>
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let frame = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            self.sent += data.len() as u64;
            if let Some(limit) = self.limit
                && self.sent > limit
            {
                tracing::warn!(request_id = %self.request_id, "response cut at the tenant's limit of {limit} bytes");
                return std::task::Poll::Ready(Some(Err(
                    format!("the response is over the limit of {limit} bytes").into()
                )));
            }
        }
        std::task::Poll::Ready(frame)
    }
}
