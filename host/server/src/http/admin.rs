//! `/admin/tenants…`: the operator creates and deletes tenants and hands out (rotates) their API keys.
//! A key is shown once, in the answer that creates it; only its hash is kept.

use super::body::{Body, read_limited};
use super::{ApiError, auth, json};
use crate::Node;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use std::sync::Arc;

pub(super) async fn handle<B>(node: &Arc<Node>, request: Request<B>, path: &[&str]) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<super::BoxError>,
{
    auth::operator(request.headers(), node.config().admin_token.as_deref())?;
    let method = request.method().clone();
    match (&method, path) {
        (&Method::GET, ["tenants"]) => {
            let catalog = node.catalog();
            let tenants: Vec<_> = catalog
                .tenants
                .iter()
                .map(|(name, t)| {
                    json!({"name": name, "models": t.models.len(), "components": t.components.len(), "endpoints": t.endpoints.len()})
                })
                .collect();
            Ok(json(StatusCode::OK, &json!({ "tenants": tenants })))
        }
        (&Method::POST, ["tenants"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct NewTenant {
                name: String,
            }
            let (parts, body) = request.into_parts();
            let body = read_limited(&parts, body, 64 << 10).await?;
            let new: NewTenant = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request("bad_json", format!("expected {{\"name\": \"...\"}}: {e}")))?;
            edge_infer_catalog::check_name(&new.name)
                .map_err(|e| ApiError::bad_request("invalid_name", e.to_string()))?;
            let key = node.update(|c| c.create_tenant(&new.name).map_err(ApiError::from_edit)).await?;
            Ok(json(StatusCode::CREATED, &json!({ "tenant": new.name, "api_key": key })))
        }
        (&Method::GET, ["stats"]) => {
            let compile = node.runtime().compile_stats();
            let models = node.runtime().models().inference().models();
            let stats = json!({
                "catalog_revision": node.catalog().revision,
                "components_compiled": compile.compiled,
                "components_from_cache": compile.cached,
                "models_loaded": models.len(),
                "model_memory_bytes": models.memory_bytes(),
                "model_memory_budget_bytes": models.memory_budget(),
            });
            Ok(json(StatusCode::OK, &stats))
        }
        (&Method::DELETE, ["tenants", tenant]) => {
            node.update(|c| c.delete_tenant(tenant).map_err(ApiError::from_edit)).await?;
            Ok(json(StatusCode::NO_CONTENT, &serde_json::Value::Null))
        }
        (&Method::PUT, ["tenants", tenant, "limits"]) => {
            let (parts, body) = request.into_parts();
            let body = read_limited(&parts, body, 64 << 10).await?;
            let limits: edge_infer_catalog::Limits = serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad_request("bad_json", format!("expected a limits object (max_concurrency, requests_per_second, burst, deadline_ms, max_request_bytes, max_response_bytes, max_model_bytes, max_models): {e}"))
            })?;
            let saved = limits.clone();
            node.update(|c| {
                c.tenant_mut(tenant).map_err(ApiError::from_edit)?.limits = saved.clone();
                Ok(())
            })
            .await?;
            Ok(json(StatusCode::OK, &json!({ "tenant": tenant, "limits": limits })))
        }
        (&Method::POST, ["tenants", tenant, "keys"]) => {
            let key = node.update(|c| c.rotate_key(tenant).map_err(ApiError::from_edit)).await?;
            Ok(json(StatusCode::CREATED, &json!({ "tenant": tenant, "api_key": key })))
        }
        _ => Err(super::no_route(&method, request_path(path))),
    }
}

fn request_path(path: &[&str]) -> String {
    format!("/admin/{}", path.join("/"))
}
