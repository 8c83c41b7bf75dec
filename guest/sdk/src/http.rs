//! The HTTP side of an endpoint: a whole request in, a whole response out.
//!
//! Inference requests and answers are small enough to hold in memory, and a handler that sees the
//! complete body is far simpler to write than one that streams. [`serve`] does the
//! `wasi:http` work: read the body to its end, call the handler, write the response.

use std::fmt;

use serde::Serialize;

use crate::bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::bindings::wasi::io::streams::{OutputStream, StreamError};

/// How much of the request body one read asks for at least (a body of unknown length is read in these).
const READ_CHUNK: usize = 64 * 1024;
/// The most a `Content-Length` may make us ask for, or reserve, before any byte arrived.
const MAX_PREALLOCATE: usize = 16 * 1024 * 1024;

/// An HTTP request, as the endpoint sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The method, upper case as sent (`GET`, `POST`, …).
    pub method: String,
    /// The path after `/run/{tenant}/{endpoint}`, with its query: `/`, `/echo?x=1`, …
    pub path: String,
    /// The headers in the order they came, names lower case. `Authorization` and hop-by-hop
    /// headers are removed by the node, which adds `x-request-id`.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path without its query: `/echo` for `/echo?x=1`. Route on this.
    pub fn path_without_query(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(path, _)| path)
    }

    /// The first value of query parameter `name`, percent-decoded (`+` reads as a space).
    /// `Some("")` for a parameter given without a value (`?verbose`).
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.path.split_once('?')?;
        query
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| percent_decode(key) == name)
            .map(|(_, value)| percent_decode(value))
    }

    /// The media type of `Content-Type`, lower case and without parameters
    /// (`application/json` for `Application/JSON; charset=utf-8`).
    pub fn content_type(&self) -> Option<String> {
        let value = self.header("content-type")?;
        let media = value.split(';').next().unwrap_or("").trim();
        Some(media.to_ascii_lowercase())
    }
}

/// Decodes `%XX` escapes and `+`; malformed escapes stay as they are, invalid UTF-8 becomes U+FFFD.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// An HTTP response for [`serve`] to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers; `content-length` is added when missing.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// A `application/json` response with `value` serialised as its body. If `value` cannot be
    /// serialised (a map with non-string keys), the answer is a 500 error instead.
    pub fn json(status: u16, value: &impl Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::bytes(status, "application/json", body),
            Err(e) => Response::error(500, "guest_serialize", format!("response body: {e}")),
        }
    }

    /// A response with `body` as it is, labelled `content_type`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response { status, headers: vec![("content-type".to_owned(), content_type.to_owned())], body }
    }

    /// The error shape every edge-infer endpoint shares:
    /// `{"error":{"code":"bad_request","message":"…"}}`.
    pub fn error(status: u16, code: &str, message: impl fmt::Display) -> Response {
        let body = serde_json::json!({
            "error": { "code": code, "message": message.to_string() }
        });
        Response::json(status, &body)
    }

    /// Adds a header (after any of the same name).
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The first value of header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Answers one `wasi:http/incoming-handler` call with `handler`: what [`endpoint!`](crate::endpoint)
/// expands to.
///
/// Reads the request body until it closes, calls `handler`, then sends its status, headers and
/// body and finishes the body. A request whose body cannot be read is answered 400
/// (`bad_body`) without calling `handler`; a response the host refuses (a header name or value
/// that HTTP forbids, a status outside 100–999) becomes a 500 (`guest_bad_response`) naming the
/// problem. Call it yourself when your component implements the export by hand.
pub fn serve(request: IncomingRequest, response_out: ResponseOutparam, handler: impl FnOnce(Request) -> Response) {
    let response = match read_request(request) {
        Ok(request) => handler(request),
        Err(message) => Response::error(400, "bad_body", message),
    };
    send(response_out, response);
}

fn read_request(request: IncomingRequest) -> Result<Request, String> {
    let method = match request.method() {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Other(other) => other,
    };
    let path = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let headers: Vec<(String, String)> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let mut parsed = Request { method, path, headers, body: Vec::new() };
    let announced = parsed.header("content-length").and_then(|v| v.trim().parse::<usize>().ok());

    let body = request.consume().map_err(|()| "the request body was already taken".to_owned())?;
    parsed.body = read_body(&body, announced)?;
    // Trailers are not offered to handlers; finishing releases the body.
    drop(IncomingBody::finish(body));
    Ok(parsed)
}

/// Reads the body to its end. The first read asks for all of an `announced` length: the node hands a guest a
/// body it has already read, so that one host call brings it all, and the list it returns becomes the body
/// as it is, without a second copy in guest memory. Whatever follows is appended.
fn read_body(body: &IncomingBody, announced: Option<usize>) -> Result<Vec<u8>, String> {
    let stream = body.stream().map_err(|()| "the request body stream was already taken".to_owned())?;
    let expected = announced.map_or(0, |len| len.min(MAX_PREALLOCATE));
    let mut into = Vec::new();
    loop {
        let want = expected.saturating_sub(into.len()).max(READ_CHUNK) as u64;
        match stream.blocking_read(want) {
            Ok(chunk) if into.is_empty() => {
                into = chunk;
                into.reserve(expected.saturating_sub(into.len()));
            }
            Ok(chunk) => into.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(into),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the request body: {}", e.to_debug_string()));
            }
        }
    }
}

fn send(response_out: ResponseOutparam, response: Response) {
    let (outgoing, body) = match build(&response) {
        Ok(outgoing) => (outgoing, response.body),
        Err(problem) => {
            eprintln!("edge-infer-guest: {problem}");
            let fallback = Response::error(500, "guest_bad_response", &problem);
            let outgoing = build(&fallback).expect("the fallback response is well formed");
            (outgoing, fallback.body)
        }
    };
    let Ok(outgoing_body) = outgoing.body() else { unreachable!("a fresh response hands out its body once") };
    // The host starts sending the head now; the body follows through the stream.
    ResponseOutparam::set(response_out, Ok(outgoing));
    let written = match outgoing_body.write() {
        Ok(stream) => {
            let result = write_all(&stream, &body);
            drop(stream);
            result
        }
        Err(()) => Err("the response body stream was already taken".to_owned()),
    };
    match written {
        Ok(()) => {
            if let Err(e) = OutgoingBody::finish(outgoing_body, None) {
                eprintln!("edge-infer-guest: finishing the response body: {e:?}");
            }
        }
        // The client went away or the host gave up: nothing more to say to anyone.
        Err(e) => eprintln!("edge-infer-guest: writing the response body: {e}"),
    }
}

/// Turns `response` into a `wasi:http` response, or says what the host refused.
fn build(response: &Response) -> Result<OutgoingResponse, String> {
    let mut entries: Vec<(String, Vec<u8>)> =
        response.headers.iter().map(|(name, value)| (name.clone(), value.as_bytes().to_vec())).collect();
    if response.header("content-length").is_none() {
        entries.push(("content-length".to_owned(), response.body.len().to_string().into_bytes()));
    }
    // All headers in one host call; only when the host refuses one are they added one by one, to name it.
    let fields = match Fields::from_list(&entries) {
        Ok(fields) => fields,
        Err(_) => {
            let fields = Fields::new();
            for (name, value) in &entries {
                fields.append(name, value).map_err(|e| format!("header {name:?}: {e:?}"))?;
            }
            fields
        }
    };
    let outgoing = OutgoingResponse::new(fields);
    outgoing
        .set_status_code(response.status)
        .map_err(|()| format!("status {} is not a valid HTTP status", response.status))?;
    Ok(outgoing)
}

/// The most `blocking-write-and-flush` takes in one call (wasi:io 0.2).
const SMALL_WRITE: usize = 4096;

/// Writes all of `data` as fast as the host takes it, and waits until it is flushed. A small body goes in
/// one `blocking-write-and-flush`; a larger one by `check-write` (how much fits), `write` that much, waiting
/// when it is full, then a flush and a wait for it.
fn write_all(stream: &OutputStream, mut data: &[u8]) -> Result<(), String> {
    let failed = |e: StreamError| match e {
        StreamError::Closed => "the stream is closed".to_owned(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    };
    if data.len() <= SMALL_WRITE {
        return stream.blocking_write_and_flush(data).map_err(failed);
    }
    let ready = stream.subscribe();
    while !data.is_empty() {
        let permitted = stream.check_write().map_err(failed)?;
        if permitted == 0 {
            ready.block();
            continue;
        }
        let len = data.len().min(usize::try_from(permitted).unwrap_or(usize::MAX));
        stream.write(&data[..len]).map_err(failed)?;
        data = &data[len..];
    }
    stream.flush().map_err(failed)?;
    ready.block();
    stream.check_write().map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests;
