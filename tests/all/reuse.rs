//! Instance reuse, an endpoint's opt-in (`max_instance_reuse`): one instance answers that many requests one
//! after another, then a fresh one takes over; an instance that trapped or ran out of time never answers
//! again, nor one made for an older version of the endpoint, nor one idle for longer than the node keeps it.
//! Without the setting every request gets a fresh instance.
//!
//! The `probe` guest's `/count` says how many `/count` requests its instance has answered.

use edge_infer_tests::{TestNode, client, guests, toml_path};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn catalog() -> String {
    format!(
        r#"
[tenants.acme.components.probe]
path = {probe}
[tenants.acme.endpoints.fresh]
component = "probe"
public = true
[tenants.acme.endpoints.reused]
component = "probe"
public = true
max_instance_reuse = 3
[tenants.acme.endpoints.long]
component = "probe"
public = true
deadline_ms = 1000
max_instance_reuse = 1000
"#,
        probe = toml_path(Path::new(guests::PROBE)),
    )
}

async fn count(node: &TestNode, endpoint: &str) -> u64 {
    let response = client().get(node.url(&format!("/run/acme/{endpoint}/count"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["count"].as_u64().unwrap_or_else(|| panic!("no count in {body}"))
}

async fn counts(node: &TestNode, endpoint: &str, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..n {
        seen.push(count(node, endpoint).await);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_answers_up_to_its_endpoints_limit_then_a_fresh_one_takes_over() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    assert_eq!(counts(&node, "fresh", 3).await, [1, 1, 1]);
    assert_eq!(counts(&node, "reused", 7).await, [1, 2, 3, 1, 2, 3, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_trapped_or_missed_its_deadline_is_not_reused() {
    let node = TestNode::start(&catalog(), |c| c.guest_memory_mib = 32).await;
    assert_eq!(counts(&node, "long", 2).await, [1, 2]);
    let spin = client().get(node.url("/run/acme/long/spin")).send().await.unwrap();
    assert_eq!(spin.status(), 504);
    assert_eq!(counts(&node, "long", 2).await, [1, 2]);
    let alloc = client().get(node.url("/run/acme/long/alloc")).send().await.unwrap();
    assert_eq!(alloc.status(), 500);
    assert_eq!(counts(&node, "long", 1).await, [1]);
}

/// Waits (up to 5 s, sampled every 100 ms by the node) until `/metrics` shows `idle` idle instances.
async fn wait_for_idle_instances(node: &TestNode, idle: u64) {
    let line = format!("edge_infer_idle_instances {idle}\n");
    for _ in 0..50 {
        let text = client().get(node.url("/metrics")).send().await.unwrap().text().await.unwrap();
        if text.contains(&line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/metrics never showed {line:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_is_dropped_after_the_nodes_timeout() {
    let node = TestNode::start(&catalog(), |c| c.idle_instance_timeout_ms = 2000).await;
    assert_eq!(counts(&node, "long", 2).await, [1, 2]);
    wait_for_idle_instances(&node, 1).await;
    // A 2 s timeout, swept every 100 ms: gone well within the 5 s the wait allows.
    wait_for_idle_instances(&node, 0).await;
    assert_eq!(counts(&node, "long", 1).await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_get_an_instance_of_their_own() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    // Requests that overlap cannot share an instance: eight at once, each sleeping, make eight instances.
    let sleeps: Vec<_> =
        (0..8).map(|_| tokio::spawn(client().get(node.url("/run/acme/long/sleep?ms=50")).send())).collect();
    for sleep in sleeps {
        assert_eq!(sleep.await.unwrap().unwrap().status(), 200);
    }
    // All eight go idle; the most recently used one is taken first, so one of them answers the next
    // requests, one after another.
    assert_eq!(counts(&node, "long", 3).await, [1, 2, 3]);
}

const ADMIN: &str = "admin-secret";

async fn call(node: &TestNode, method: Method, path: &str, token: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let response = client().request(method, node.url(path)).bearer_auth(token).body(body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_endpoint_version_never_gets_an_instance_of_the_old_one_and_zero_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_path_buf();
    let node = TestNode::start("", move |c| {
        c.admin_token = Some(ADMIN.into());
        c.data_dir = dir;
        c.catalog = None;
    })
    .await;
    let (status, tenant) =
        call(&node, Method::POST, "/admin/tenants", ADMIN, json!({"name": "acme"}).to_string().into()).await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    let key = tenant["api_key"].as_str().unwrap().to_string();
    let probe = std::fs::read(guests::PROBE).unwrap();
    let (status, body) = call(&node, Method::PUT, "/v1/components/probe", &key, probe).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let put = |config: &str, reuse: u32| {
        json!({"component": "probe", "public": true, "config": {"v": config}, "max_instance_reuse": reuse}).to_string()
    };
    let (status, body) = call(&node, Method::PUT, "/v1/endpoints/e", &key, put("1", 0).into()).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("bad_max_instance_reuse")));
    let (status, body) = call(&node, Method::PUT, "/v1/endpoints/e", &key, put("1", 10).into()).await;
    assert_eq!((status, body["max_instance_reuse"].clone()), (StatusCode::CREATED, json!(10)), "{body}");
    assert_eq!(counts(&node, "e", 2).await, [1, 2]);
    let (status, body) = call(&node, Method::PUT, "/v1/endpoints/e", &key, put("2", 10).into()).await;
    assert_eq!((status, body["version"].clone()), (StatusCode::CREATED, json!(2)), "{body}");
    assert_eq!(counts(&node, "e", 2).await, [1, 2]);
}
