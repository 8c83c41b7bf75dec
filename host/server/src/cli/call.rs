//! `edge-infer call TENANT ENDPOINT [PATH]`: one request to `/run/TENANT/ENDPOINT[/PATH]`, like a small `curl`
//! that knows the node's URL layout and key. The answer's body goes to stdout byte for byte (images, tensors,
//! JSON alike); a non-2xx status is reported on stderr and exits 1, so shell scripts can branch on it.

use super::TenantConn;
use super::client::Api;
use anyhow::Context as _;
use clap::Args;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

/// `edge-infer call`: where to send the request and what it carries.
#[derive(Args, Debug)]
pub struct CallArgs {
    #[command(flatten)]
    pub(super) conn: TenantConn,
    /// The tenant that owns the endpoint.
    pub(super) tenant: String,
    /// The endpoint's name.
    pub(super) endpoint: String,
    /// Path (and `?query`) below the endpoint, passed to the component as is.
    pub(super) path: Option<String>,
    /// Sends this file as the request body (`-` reads stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "json")]
    pub(super) data: Option<PathBuf>,
    /// Sends this string as the body, with `content-type: application/json` unless --header sets one.
    #[arg(long, value_name = "STRING")]
    pub(super) json: Option<String>,
    /// Adds a request header (`-H 'accept: image/png'`); repeatable.
    #[arg(short = 'H', long = "header", value_name = "K:V", value_parser = parse_header)]
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    /// The HTTP method [default: POST with a body, GET without].
    #[arg(short = 'X', long = "method", visible_alias = "request", value_name = "METHOD", value_parser = parse_method)]
    pub(super) method: Option<Method>,
}

/// Parses `NAME: VALUE` into a header; the value's surrounding spaces are dropped.
pub fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = super::split_pair(s, ':', "NAME:VALUE (e.g. 'accept: application/json')")?;
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a valid header name"))?;
    let value =
        HeaderValue::from_str(value.trim()).map_err(|_| format!("the value of {name} is not a valid header"))?;
    Ok((name, value))
}

/// Parses an HTTP method, upper-casing it (`-X post` means POST).
pub fn parse_method(s: &str) -> Result<Method, String> {
    Method::from_bytes(s.to_ascii_uppercase().as_bytes()).map_err(|_| format!("{s:?} is not an HTTP method"))
}

/// `/run/TENANT/ENDPOINT` under the server, with `path` (which may carry a `?query`) appended as written.
pub fn run_url(api: &Api, tenant: &str, endpoint: &str, path: Option<&str>) -> Url {
    let mut url = api.url(&["run", tenant, endpoint]);
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        let path = path.trim_start_matches('/');
        if !path.is_empty() {
            let joined = format!("{}/{path}", url.path());
            url.set_path(&joined);
        }
        url.set_query(query);
    }
    url
}

impl CallArgs {
    /// Sends the request and streams the answer's body to stdout; 2xx is success, anything else exit 1.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        // The key is optional here: public endpoints need none.
        let key = self.conn.key.as_deref().filter(|k| !k.is_empty());
        let api = Api::new(&self.conn.server.server, key)?;
        let body = match (&self.data, &self.json) {
            (Some(path), _) => Some(read_data(path)?),
            (None, Some(json)) => Some(json.clone().into_bytes()),
            (None, None) => None,
        };
        let method = self.method.clone().unwrap_or(if body.is_some() { Method::POST } else { Method::GET });
        let url = run_url(&api, &self.tenant, &self.endpoint, self.path.as_deref());
        let mut request = api.request_url(method, url);
        let sets_type = self.headers.iter().any(|(name, _)| name == CONTENT_TYPE);
        if self.json.is_some() && !sets_type {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }

        let mut response = api.send_raw(request).await?;
        let status = response.status();
        let mut stdout = std::io::stdout().lock();
        while let Some(chunk) = response.chunk().await.context("the answer broke off")? {
            match stdout.write_all(&chunk) {
                Ok(()) => {}
                // The reader went away (`| head`): stop reading, keep the status's verdict.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                Err(e) => return Err(e).context("cannot write to stdout"),
            }
        }
        let _ = stdout.flush();
        if status.is_success() {
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("HTTP {status}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The bytes of `--data FILE`, or of stdin for `-`.
fn read_data(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().lock().read_to_end(&mut bytes).context("cannot read the body from stdin")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read --data {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(base: &str) -> Api {
        Api::new(&Url::parse(base).unwrap(), None).unwrap()
    }

    #[test]
    fn run_urls_escape_names_and_keep_paths() {
        let api = api("http://127.0.0.1:8080");
        assert_eq!(run_url(&api, "acme", "classify", None).as_str(), "http://127.0.0.1:8080/run/acme/classify");
        let url = run_url(&api, "acme", "classify", Some("/v2/predict?top=5&x=a b"));
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/run/acme/classify/v2/predict?top=5&x=a%20b");
        let url = run_url(&api, "a b", "c/d", Some("?q=1"));
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/run/a%20b/c%2Fd?q=1");
        assert_eq!(run_url(&api, "t", "e", Some("dir/")).as_str(), "http://127.0.0.1:8080/run/t/e/dir/");
    }

    #[test]
    fn headers_and_methods_parse() {
        let (name, value) = parse_header("Accept:  image/png ").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("accept", "image/png"));
        assert_eq!(parse_header("x-empty:").unwrap().1, "");
        assert!(parse_header("no-colon").is_err());
        assert!(parse_header("bad name: v").is_err());
        assert!(parse_header("x: bad\nvalue").is_err());
        assert_eq!(parse_method("post").unwrap(), Method::POST);
        assert_eq!(parse_method("PURGE").unwrap().as_str(), "PURGE");
        assert!(parse_method("GE T").is_err());
    }
}
