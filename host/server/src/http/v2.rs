//! `/v2/…`: the Open Inference Protocol (KServe v2) REST API, so existing clients (tritonclient, KServe's)
//! call a tenant's models directly, without a guest. The tenant comes from the API key and sees only its own
//! models (another tenant's model does not exist here: 404). Inference goes through the same path as a
//! guest's `wasi:nn` compute — `Inference::compute`, its checks and the fair scheduler — and the protocol
//! work (JSON and binary tensor data, metadata) is the pure functions of `edge-infer-oip`.
//!
//! Errors here answer in the protocol's shape, `{"error": "<message>"}`, not the rest of the API's
//! `{"error": {"code", "message"}}`: this handler never returns `Err`.
//!
//! Health and server metadata need no key, like `/healthz`, so that probes and `tritonclient` work
//! unconfigured; everything under `/v2/models` needs one.

use super::body::{Body, full, read_limited};
use super::{ApiError, auth};
use crate::Node;
use bytes::Bytes;
use edge_infer_catalog::{Limits, ModelVersion, ResolvedModel};
use edge_infer_nn::LoadedModel;
use edge_infer_oip::{self as oip, OipError};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use std::sync::Arc;
use std::time::Duration;

/// Bodies larger than this are decoded and encoded off the async workers.
const BLOCKING_ABOVE: usize = 64 << 10;

/// What a `/v2/models/{model}[/versions/{v}]…` path asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Metadata,
    Ready,
    Infer,
}

pub(super) async fn handle<B>(
    node: &Arc<Node>,
    request: Request<B>,
    path: &[&str],
    request_id: &str,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    Ok(answer(node, request, path).await.unwrap_or_else(|e| error_response(e, request_id)))
}

async fn answer<B>(node: &Arc<Node>, request: Request<B>, path: &[&str]) -> Result<Response<Body>, OipError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    let method = request.method().clone();
    let full_path = format!("/v2/{}", path.join("/"));
    let get_only = || wrong_method(&method, &Method::GET, &full_path);
    let (model, version, action) = match path {
        [] => {
            if let Some(refusal) = get_only() {
                return Ok(refusal);
            }
            let metadata = oip::ServerMetadata::new("edge-infer", env!("CARGO_PKG_VERSION"));
            return Ok(json(StatusCode::OK, &metadata));
        }
        ["health", "live"] => {
            if let Some(refusal) = get_only() {
                return Ok(refusal);
            }
            return Ok(json(StatusCode::OK, &serde_json::json!({ "live": true })));
        }
        ["health", "ready"] => {
            if let Some(refusal) = get_only() {
                return Ok(refusal);
            }
            // The same readiness as `/readyz`: the catalog prepared and the store writable (`/readyz` says why not).
            let ready = node.readiness().await.is_ok();
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            return Ok(json(status, &serde_json::json!({ "ready": ready })));
        }
        ["models", model] => (*model, None, Action::Metadata),
        ["models", model, "ready"] => (*model, None, Action::Ready),
        ["models", model, "infer"] => (*model, None, Action::Infer),
        ["models", model, "versions", v] => (*model, Some(*v), Action::Metadata),
        ["models", model, "versions", v, "ready"] => (*model, Some(*v), Action::Ready),
        ["models", model, "versions", v, "infer"] => (*model, Some(*v), Action::Infer),
        _ => return Err(OipError::not_found(format!("no route for {method} {full_path}"))),
    };
    if let Some(refusal) =
        wrong_method(&method, if action == Action::Infer { &Method::POST } else { &Method::GET }, &full_path)
    {
        return Ok(refusal);
    }
    let catalog = node.catalog();
    let tenant = auth::tenant(request.headers(), &catalog).map_err(from_api)?;
    let target = Target::find(&catalog, &tenant, model, version)?;
    match action {
        Action::Metadata => {
            let loaded = target.load(node).await?;
            let versions = 1..=target.count;
            Ok(json(StatusCode::OK, &oip::ModelMetadata::new(model, versions, loaded.info())))
        }
        Action::Ready => {
            // Ready = loaded, or loadable now (a version not loaded yet is loaded by this check, as the first
            // inference would).
            let ready = target.load(node).await.is_ok();
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            Ok(json(status, &oip::ModelReady { name: model.to_string(), ready }))
        }
        Action::Infer => infer(node, &tenant, &target, request).await,
    }
}

/// The model a request names, resolved in its tenant's catalog.
struct Target {
    name: String,
    version: u32,
    /// How many versions the model has (numbered from 1).
    count: u32,
    resolved: ResolvedModel,
    /// The tenant's quotas and limits, as for its endpoints.
    limits: Limits,
}

impl Target {
    fn find(
        catalog: &edge_infer_catalog::Catalog,
        tenant: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Self, OipError> {
        let unknown = || OipError::not_found(format!("unknown model \"{name}\""));
        let tenant = catalog.tenants.get(tenant).ok_or_else(unknown)?;
        let versions = tenant.models.get(name).ok_or_else(unknown)?;
        let count = u32::try_from(versions.versions.len()).unwrap_or(u32::MAX);
        let number = match version {
            None => versions.current,
            Some(v) => v.parse::<u32>().ok().filter(|n| versions.get(Some(*n)).is_some()).ok_or_else(|| {
                let known: Vec<String> = (1..=count).map(|n| n.to_string()).collect();
                OipError::not_found(format!("model \"{name}\" has no version \"{v}\"; its versions are {known:?}"))
            })?,
        };
        let ModelVersion { digest, config, .. } = versions
            .get(Some(number))
            .ok_or_else(|| OipError::internal(format!("model \"{name}\": its current version {number} is missing")))?;
        Ok(Self {
            name: name.to_string(),
            version: number,
            count,
            resolved: ResolvedModel { digest: digest.clone(), config: config.clone() },
            limits: tenant.limits.clone(),
        })
    }

    /// The loaded model, loading it now if this node has not yet.
    async fn load(&self, node: &Node) -> Result<Arc<dyn LoadedModel>, OipError> {
        node.runtime().models().load(&self.resolved).await.map_err(|e| {
            let mut e = OipError::from_nn(e);
            e.message = format!("model \"{}\" version {} could not be loaded: {}", self.name, self.version, e.message);
            e
        })
    }
}

/// `POST …/infer`: admit under the tenant's quotas, decode, check against the model, compute on the shared
/// inference path under the tenant's deadline, encode.
async fn infer<B>(node: &Node, tenant: &str, target: &Target, request: Request<B>) -> Result<Response<Body>, OipError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    // The same admission as the tenant's endpoints: /v2 is no way around a concurrency or rate limit.
    let _admission = match node.admit(tenant, &target.limits) {
        Ok(admission) => admission,
        Err(refusal) => {
            let e = OipError::new(StatusCode::TOO_MANY_REQUESTS, format!("tenant {tenant} is {}", refusal.reason));
            let mut response = error_response(e, "");
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(refusal.retry_after.as_secs().max(1)));
            return Ok(response);
        }
    };
    let (parts, body) = request.into_parts();
    if let Some(encoding) = parts.headers.get(header::CONTENT_ENCODING)
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(OipError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Encoding {} is not supported on /v2: send the request body uncompressed",
                String::from_utf8_lossy(encoding.as_bytes())
            ),
        ));
    }
    let header = match parts.headers.get(oip::INFERENCE_HEADER_CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| OipError::bad_request("the Inference-Header-Content-Length header is not text"))?
                .to_string(),
        ),
    };
    let body_limit =
        target.limits.max_request_bytes.map_or(node.config().body_limit, |l| l.min(node.config().body_limit));
    let body = read_limited(&parts, body, body_limit).await.map_err(from_api)?;
    let decoded = off_worker(body.len(), move || oip::decode_request(&body, header.as_deref())).await??;
    let model = target.load(node).await?;
    let choices = decoded.check(model.info())?;
    let inference = node.runtime().models().inference();
    let deadline = Duration::from_millis(target.limits.deadline_ms.unwrap_or(node.config().deadline_ms));
    let outputs = tokio::time::timeout(deadline, inference.compute(tenant, model, decoded.inputs))
        .await
        .map_err(|_| {
            OipError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the inference did not finish within the deadline of {} ms", deadline.as_millis()),
            )
        })?
        .map_err(OipError::from_nn)?;
    let size = outputs.iter().map(|(_, t)| t.bytes().map_or(t.len() * 8, <[u8]>::len)).sum();
    let (name, version, id) = (target.name.clone(), target.version.to_string(), decoded.id);
    let encoded =
        off_worker(size, move || oip::encode_response(&name, &version, id.as_deref(), &choices, &outputs)).await??;

    let content_type = encoded.content_type();
    let json_length = encoded.json_length;
    let mut response = Response::new(full(encoded.body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(length) = json_length {
        response.headers_mut().insert(oip::INFERENCE_HEADER_CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(response)
}

/// Runs `work` on a blocking thread when `size` bytes make it long, else here.
async fn off_worker<R: Send + 'static>(size: usize, work: impl FnOnce() -> R + Send + 'static) -> Result<R, OipError> {
    if size <= BLOCKING_ABOVE {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work).await.map_err(|e| OipError::internal(format!("a /v2 task failed: {e}")))
}

/// The 405 for any method but `allowed`, with `Allow`.
fn wrong_method(method: &Method, allowed: &Method, path: &str) -> Option<Response<Body>> {
    if method == allowed {
        return None;
    }
    let e = OipError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{path} answers {allowed}, not {method}"));
    let mut response = error_response(e, "");
    if let Ok(allow) = HeaderValue::from_str(allowed.as_str()) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Some(response)
}

/// The rest of the API's errors (auth, body limit) in the protocol's shape, with the same status.
fn from_api(e: ApiError) -> OipError {
    OipError::new(e.status, e.message)
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    super::json(status, value)
}

/// `{"error": "..."}` with the status; a failure of the node's own carries the request id to report.
fn error_response(mut e: OipError, request_id: &str) -> Response<Body> {
    if e.status.is_server_error() {
        e.message = format!("{} (request id {request_id})", e.message);
    }
    let mut response = Response::new(full(e.body()));
    *response.status_mut() = e.status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
