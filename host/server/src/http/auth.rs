//! Who is calling: the operator (admin token) or a tenant (API key), from `Authorization: Bearer …`.
//! Keys are compared by their sha256, never stored or compared in the clear.

use super::ApiError;
use edge_infer_catalog::{Catalog, Digest};
use http::{HeaderMap, StatusCode};

/// The bearer token of a request, if it has one.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    // Auth schemes are case-insensitive (RFC 9110 §11.1).
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Checks the operator token.
pub(super) fn operator(headers: &HeaderMap, admin_token: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = admin_token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is disabled on this node: start it with --admin-token",
        ));
    };
    let given =
        bearer(headers).ok_or_else(|| unauthorized("the admin API needs Authorization: Bearer <admin token>"))?;
    // Comparing digests keeps the comparison's time independent of how much of the token matched.
    if Digest::of(given.as_bytes()) == Digest::of(expected.as_bytes()) {
        Ok(())
    } else {
        Err(unauthorized("invalid admin token"))
    }
}

/// The tenant whose API key the request carries.
pub(super) fn tenant(headers: &HeaderMap, catalog: &Catalog) -> Result<String, ApiError> {
    let key = bearer(headers).ok_or_else(|| unauthorized("this API needs Authorization: Bearer <api key>"))?;
    catalog.tenant_for_key(key).map(|(name, _)| name.to_string()).ok_or_else(|| unauthorized("invalid API key"))
}
