//! Guests are granted nothing: no environment, no files, no sockets, no outbound HTTP — and they see the
//! request as the design says: the rest of the path with its query, headers minus credentials and
//! hop-by-hop headers, plus `x-request-id`.

use edge_infer_tests::{TestNode, client, guests, toml_path};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

pub fn probe_catalog() -> String {
    format!(
        "[tenants.t.components.probe]\npath = {}\n[tenants.t.endpoints.probe]\ncomponent = \"probe\"\npublic = true\nconfig = {{ greeting = \"hi\" }}\n",
        toml_path(Path::new(guests::PROBE))
    )
}

#[tokio::test]
async fn a_guest_gets_no_env_no_files_no_sockets_no_outbound_http() {
    let node = TestNode::start(&probe_catalog(), |_| {}).await;
    // A real listener: if the guest could connect, it would.
    let bait = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = bait.local_addr().unwrap().port();
    let response = client().get(node.url(&format!("/run/t/probe/sandbox?port={port}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["env"], serde_json::json!([]), "{report}");
    assert!(report["fs_root"].as_str().unwrap().starts_with("error"), "{report}");
    assert!(report["tcp"].as_str().unwrap().starts_with("error"), "{report}");
    assert!(report["http"].as_str().unwrap().contains("HttpRequestDenied"), "{report}");
    assert_eq!(report["config"], serde_json::json!(["greeting=hi"]), "{report}");
    let accepted = tokio::time::timeout(Duration::from_millis(200), bait.accept()).await;
    assert!(accepted.is_err(), "the guest reached a socket");
}

#[tokio::test]
async fn the_guest_sees_the_rest_of_the_path_and_filtered_headers() {
    let node = TestNode::start(&probe_catalog(), |_| {}).await;
    let response = client()
        .post(node.url("/run/t/probe/echo?a=1&b=two"))
        .header("authorization", "Bearer secret")
        .header("x-custom", "kept")
        .header("x-request-id", "req-123")
        .header("connection", "keep-alive, X-Hop")
        .header("x-hop", "named by connection")
        .header("keep-alive", "timeout=5")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo?a=1&b=two");
    assert_eq!(echo["body_len"], 5);
    let headers: Vec<(String, String)> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().to_lowercase(), h[1].as_str().unwrap().to_string()))
        .collect();
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(get("x-custom"), Some("kept"));
    assert_eq!(get("x-request-id"), Some("req-123"));
    assert_eq!(get("authorization"), None, "credentials reached the guest");
    assert_eq!(get("connection"), None);
    assert_eq!(get("keep-alive"), None);
    assert_eq!(get("x-hop"), None, "a header the caller's Connection names is hop-by-hop");
}

#[tokio::test]
async fn a_response_the_host_refuses_becomes_a_500_naming_the_header() {
    let node = TestNode::start(&probe_catalog(), |_| {}).await;
    let response = client().get(node.url("/run/t/probe/bad-header")).send().await.unwrap();
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "guest_bad_response", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("\"bad header\""), "{body}");
    // The instance answered well after all: the next request is fine.
    let echo = client().get(node.url("/run/t/probe/echo")).send().await.unwrap();
    assert_eq!(echo.status(), 200);
}
