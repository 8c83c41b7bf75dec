//! The endpoint's configuration (`wasi:config/store`): the string map its binding sets,
//! such as which model alias to use or how many results to return.
//!
//! The map is read-only and fixed for the life of a request. The store's errors come from its
//! backing source, which on edge-infer is the catalog already in memory; they read here as
//! "not set", since a guest can only fall back to its default either way.

use crate::bindings::wasi::config::store;

/// The value of `key`, or `None` if it is not set.
pub fn get(key: &str) -> Option<String> {
    store::get(key).ok().flatten()
}

/// Every key and value, in the store's order.
pub fn all() -> Vec<(String, String)> {
    store::get_all().unwrap_or_default()
}
