//! `/v1/…`: a tenant manages its own models, components and endpoints with its API key. Another tenant's
//! artifacts do not exist here (404).
//!
//! Uploads are checked before they are accepted — a model by loading it in its backend, a component by
//! compiling it and checking its world — then stored (blob first, durably), and only then entered in the
//! catalog. A loaded model and a compiled component stay ready, so the first request pays nothing.

use super::body::{Body, read_limited};
use super::{ApiError, auth, json};
use crate::Node;
use bytes::Bytes;
use edge_infer_catalog::{
    Artifact, ArtifactRef, BlobStore, ComponentVersion, Digest, EndpointVersion, ModelVersion, Tenant, Versions,
    check_name,
};
use edge_infer_nn::{ErrorKind, ModelConfig, ModelInfo, ModelKey, NnError, TensorSpec};
use edge_infer_runtime::AdmitError;
use http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The header that carries a model's config (JSON) with its upload.
const MODEL_CONFIG_HEADER: &str = "x-model-config";

pub(super) async fn handle<B>(node: &Arc<Node>, request: Request<B>, path: &[&str]) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    let tenant = auth::tenant(request.headers(), &node.catalog())?;
    let method = request.method().clone();
    if let [_, name, ..] = path {
        check_name(name).map_err(|e| ApiError::bad_request("invalid_name", e.to_string()))?;
    }
    let (parts, body) = request.into_parts();
    match (&method, path) {
        (&Method::GET, ["models"]) => list(node, &tenant, |t| listing("models", &t.models, version_json)),
        (&Method::GET, ["components"]) => list(node, &tenant, |t| listing("components", &t.components, version_json)),
        (&Method::GET, ["endpoints"]) => list(node, &tenant, |t| listing("endpoints", &t.endpoints, endpoint_json)),
        (&Method::GET, ["models", name]) => get_model(node, &tenant, name).await,
        (&Method::GET, ["components", name]) => {
            item(node, &tenant, "components", name, |t| t.components.get(*name).map(|v| history(v, version_json)))
        }
        (&Method::GET, ["endpoints", name]) => {
            item(node, &tenant, "endpoints", name, |t| t.endpoints.get(*name).map(|v| history(v, endpoint_json)))
        }
        (&Method::PUT, ["models", name]) => {
            let config = model_config(&parts)?;
            let bytes = read_limited(&parts, body, node.config().upload_limit).await?;
            put_model(node, &tenant, name, config, bytes).await
        }
        (&Method::PUT, ["components", name]) => {
            let bytes = read_limited(&parts, body, node.config().upload_limit).await?;
            put_component(node, &tenant, name, bytes).await
        }
        (&Method::PUT, ["endpoints", name]) => {
            let bytes = read_limited(&parts, body, 1 << 20).await?;
            put_endpoint(node, &tenant, name, &bytes).await
        }
        (&Method::POST, ["endpoints", name, "rollback"]) => {
            let current =
                node.update(|c| tenant_mut(c, &tenant)?.rollback_endpoint(name).map_err(ApiError::from_edit)).await?;
            Ok(json(StatusCode::OK, &json!({ "name": name, "current": current })))
        }
        (&Method::DELETE, ["models", name]) => delete(node, &tenant, |t| t.delete_model(name)).await,
        (&Method::DELETE, ["components", name]) => delete(node, &tenant, |t| t.delete_component(name)).await,
        (&Method::DELETE, ["endpoints", name]) => delete(node, &tenant, |t| t.delete_endpoint(name)).await,
        _ => Err(super::no_route(&method, format!("/v1/{}", path.join("/")))),
    }
}

fn tenant_mut<'a>(catalog: &'a mut edge_infer_catalog::Catalog, tenant: &str) -> Result<&'a mut Tenant, ApiError> {
    // The key was valid when the request began; the tenant may have been deleted since.
    catalog.tenant_mut(tenant).map_err(|_| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "tenant deleted"))
}

fn list(
    node: &Node,
    tenant: &str,
    view: impl Fn(&Tenant) -> (&'static str, Value),
) -> Result<Response<Body>, ApiError> {
    let catalog = node.catalog();
    let t = catalog.tenants.get(tenant).ok_or_else(|| ApiError::not_found("no such tenant"))?;
    let (key, items) = view(t);
    Ok(json(StatusCode::OK, &json!({ key: items })))
}

fn item(
    node: &Node,
    tenant: &str,
    kind: &str,
    name: &str,
    view: impl Fn(&Tenant) -> Option<Value>,
) -> Result<Response<Body>, ApiError> {
    let catalog = node.catalog();
    let found = catalog.tenants.get(tenant).and_then(view);
    let mut body = found.ok_or_else(|| ApiError::not_found(format!("no {} {name}", kind.trim_end_matches('s'))))?;
    body["name"] = name.into();
    Ok(json(StatusCode::OK, &body))
}

async fn delete(
    node: &Node,
    tenant: &str,
    mut change: impl FnMut(&mut Tenant) -> Result<(), edge_infer_catalog::EditError>,
) -> Result<Response<Body>, ApiError> {
    node.update(|c| change(tenant_mut(c, tenant)?).map_err(ApiError::from_edit)).await?;
    Ok(json(StatusCode::NO_CONTENT, &Value::Null))
}

fn listing<T>(
    kind: &'static str,
    map: &BTreeMap<String, Versions<T>>,
    each: fn(u32, &T) -> Value,
) -> (&'static str, Value) {
    let items: Vec<Value> = map
        .iter()
        .map(|(name, versions)| {
            let mut v = history(versions, each);
            v["name"] = name.as_str().into();
            v
        })
        .collect();
    (kind, Value::Array(items))
}

fn history<T>(versions: &Versions<T>, each: fn(u32, &T) -> Value) -> Value {
    let list: Vec<Value> = versions.versions.iter().enumerate().map(|(i, v)| each(i as u32 + 1, v)).collect();
    json!({ "current": versions.current, "versions": list })
}

fn version_json<T: Artifact>(version: u32, v: &T) -> Value {
    json!({ "version": version, "digest": v.digest().as_str(), "size": v.size() })
}

fn endpoint_json(version: u32, e: &EndpointVersion) -> Value {
    json!({
        "version": version,
        "component": String::from(e.component.clone()),
        "models": e.models.iter().map(|(a, m)| (a.clone(), String::from(m.clone()))).collect::<BTreeMap<_, _>>(),
        "config": e.config,
        "public": e.public,
        "deadline_ms": e.deadline_ms,
        "max_instance_reuse": e.max_instance_reuse.unwrap_or(1),
    })
}

fn specs_json(specs: &[TensorSpec]) -> Value {
    specs
        .iter()
        .map(|s| json!({ "name": s.name, "type": s.ty, "dims": s.dims.iter().map(|d| d.fixed()).collect::<Vec<_>>() }))
        .collect()
}

fn info_json(info: &ModelInfo) -> Value {
    json!({ "inputs": specs_json(&info.inputs), "outputs": specs_json(&info.outputs), "metadata": info.metadata })
}

fn model_config(parts: &http::request::Parts) -> Result<ModelConfig, ApiError> {
    match parts.headers.get(MODEL_CONFIG_HEADER) {
        None => Ok(ModelConfig::default()),
        Some(value) => {
            let text =
                value.to_str().map_err(|_| ApiError::bad_request("bad_model_config", "x-model-config is not text"))?;
            serde_json::from_str(text).map_err(|e| {
                ApiError::bad_request("bad_model_config", format!("x-model-config: {e} (expected {{\"backend\": \"tract\", \"inputs\": {{\"x\": [1, 3, 224, 224]}}}})"))
            })
        }
    }
}

async fn get_model(node: &Node, tenant: &str, name: &str) -> Result<Response<Body>, ApiError> {
    let catalog = node.catalog();
    let versions = catalog
        .tenants
        .get(tenant)
        .and_then(|t| t.models.get(name))
        .ok_or_else(|| ApiError::not_found(format!("no model {name}")))?;
    let current = versions.current();
    let resolved = edge_infer_catalog::ResolvedModel { digest: current.digest.clone(), config: current.config.clone() };
    let model = node.runtime().models().load(&resolved).await.map_err(|e| ApiError::internal(e.to_string()))?;
    let mut body = history(versions, version_json);
    body["name"] = name.into();
    body["backend"] = model.backend().into();
    body["config"] = serde_json::to_value(&current.config).expect("config is JSON");
    for (k, v) in info_json(model.info()).as_object().expect("an object") {
        body[k] = v.clone();
    }
    Ok(json(StatusCode::OK, &body))
}

/// Stores `bytes` in the blob store, off the async workers.
async fn store(node: &Node, bytes: Bytes) -> Result<Digest, ApiError> {
    let store: Arc<dyn BlobStore> = node.store().clone();
    let stored = tokio::task::spawn_blocking(move || store.put(&bytes))
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?;
    node.count_store_operation("blob_put", stored.is_ok());
    stored.map_err(|e| match e {
        edge_infer_catalog::StoreError::Unavailable(m) => ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the upload could not be stored: {m}"),
            )
        },
        other => ApiError::internal(format!("the upload could not be stored: {other}")),
    })
}

/// A tenant's model quotas: the size of one model, and how many it may have.
fn check_model_quota(node: &Node, tenant: &str, name: &str, size: u64) -> Result<(), ApiError> {
    let catalog = node.catalog();
    let Some(t) = catalog.tenants.get(tenant) else { return Ok(()) };
    if let Some(max) = t.limits.max_model_bytes
        && size > max
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota_exceeded",
            format!("the model is {size} bytes; this tenant may upload models of at most {max} bytes"),
        ));
    }
    if let Some(max) = t.limits.max_models
        && !t.models.contains_key(name)
        && t.models.len() >= max as usize
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "quota_exceeded",
            format!("this tenant may have at most {max} models; delete one first"),
        ));
    }
    Ok(())
}

async fn put_model(
    node: &Node,
    tenant: &str,
    name: &str,
    config: ModelConfig,
    bytes: Bytes,
) -> Result<Response<Body>, ApiError> {
    check_model_quota(node, tenant, name, bytes.len() as u64)?;
    let digest = Digest::of(&bytes);
    let key = ModelKey { digest: digest.as_str().to_string(), config: config.clone() };
    let models = node.runtime().models().inference().models();
    let model = models.get_or_load_checked(&key, bytes.clone()).await.map_err(load_error)?;
    let size = bytes.len() as u64;
    let digest = store(node, bytes).await?;
    let version = ModelVersion { digest: digest.clone(), size, config };
    let put = node.update(|c| Ok(tenant_mut(c, tenant)?.put_model(name, version.clone()))).await?;
    let mut body = json!({
        "name": name, "version": put.version, "digest": digest.as_str(), "size": size, "backend": model.backend(),
    });
    for (k, v) in info_json(model.info()).as_object().expect("an object") {
        body[k] = v.clone();
    }
    Ok(json(if put.created { StatusCode::CREATED } else { StatusCode::OK }, &body))
}

/// An uploaded model that did not load: the model's fault (400 `invalid_model`) or the node's (500).
fn load_error(e: NnError) -> ApiError {
    match e.kind {
        ErrorKind::InvalidEncoding
        | ErrorKind::UnsupportedOperation
        | ErrorKind::InvalidArgument
        | ErrorKind::TooLarge
        | ErrorKind::Timeout => ApiError::bad_request("invalid_model", e.message),
        _ => ApiError::internal(format!("the model could not be loaded: {}", e.message)),
    }
}

async fn put_component(node: &Node, tenant: &str, name: &str, bytes: Bytes) -> Result<Response<Body>, ApiError> {
    let digest = Digest::of(&bytes);
    let info = node.runtime().admit(&digest, Arc::new(bytes.to_vec())).await.map_err(|e| match e {
        AdmitError::Invalid(m) => ApiError::bad_request("invalid_component", m),
        AdmitError::Internal(m) => ApiError::internal(m),
    })?;
    let size = bytes.len() as u64;
    store(node, bytes).await?;
    let version = ComponentVersion { digest: digest.clone(), size };
    let put = node.update(|c| Ok(tenant_mut(c, tenant)?.put_component(name, version.clone()))).await?;
    let body = json!({
        "name": name, "version": put.version, "digest": digest.as_str(), "size": size,
        "kind": info.kind, "imports": info.imports, "exports": info.exports,
    });
    Ok(json(if put.created { StatusCode::CREATED } else { StatusCode::OK }, &body))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointRequest {
    component: ArtifactRef,
    #[serde(default)]
    models: BTreeMap<String, ArtifactRef>,
    #[serde(default)]
    config: BTreeMap<String, Value>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    deadline_ms: Option<u64>,
    #[serde(default)]
    max_instance_reuse: Option<u32>,
}

async fn put_endpoint(node: &Node, tenant: &str, name: &str, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let request: EndpointRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("bad_json", format!("expected {{\"component\": \"name[@version]\", \"models\": {{..}}, \"config\": {{..}}, \"public\": bool}}: {e}"))
    })?;
    let config = request
        .config
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(_) | Value::Bool(_) => Ok((k, v.to_string())),
            _ => Err(ApiError::bad_request("bad_config", format!("config {k} must be a string, number or bool"))),
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    if request.max_instance_reuse == Some(0) {
        return Err(ApiError::bad_request(
            "bad_max_instance_reuse",
            "max_instance_reuse is how many requests one instance may answer: at least 1",
        ));
    }
    let endpoint = EndpointVersion {
        component: request.component,
        models: request.models,
        config,
        public: request.public,
        deadline_ms: request.deadline_ms,
        max_instance_reuse: request.max_instance_reuse,
    };
    let answer = endpoint_json(0, &endpoint);
    let put = node
        .update(|c| tenant_mut(c, tenant)?.put_endpoint(name, endpoint.clone()).map_err(ApiError::from_edit))
        .await?;
    let mut body = answer;
    body["name"] = name.into();
    body["version"] = put.version.into();
    Ok(json(if put.created { StatusCode::CREATED } else { StatusCode::OK }, &body))
}
