//! Hostile and greedy guests are stopped with a clear answer, and the node and the other tenants carry on:
//! endless loops meet their deadline, memory bombs their memory limit, deep recursion the stack limit;
//! floods of output stay out of the log, oversized responses are cut, and tenants over their quota get 429.

use edge_infer_tests::{TestNode, client, fixture, guests, toml_path};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn catalog() -> String {
    format!(
        r#"
[tenants.bad.limits]
max_response_bytes = 1048576
[tenants.bad.models.m]
path = {model}
[tenants.bad.components.probe]
path = {probe}
[tenants.bad.components.hostile]
path = {hostile}
[tenants.bad.endpoints.quick]
component = "probe"
public = true
deadline_ms = 200
[tenants.bad.endpoints.probe]
component = "probe"
public = true
[tenants.bad.endpoints.hostile]
component = "hostile"
public = true
deadline_ms = 60000
[tenants.bad.endpoints.looping]
component = "hostile"
public = true
deadline_ms = 300

[tenants.good.models.m]
path = {model}
[tenants.good.components.tensor]
path = {tensor}
[tenants.good.endpoints.tensor]
component = "tensor"
public = true
"#,
        model = toml_path(&fixture("tenant_a_m.onnx")),
        probe = toml_path(Path::new(guests::PROBE)),
        hostile = toml_path(Path::new(guests::HOSTILE)),
        tensor = toml_path(Path::new(guests::TENSOR)),
    )
}

async fn get(node: &TestNode, path: &str) -> (u16, Value) {
    let response = client().get(node.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_meets_its_deadline_and_the_next_request_is_fine() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let started = Instant::now();
    let (status, body) = get(&node, "/run/bad/quick/spin").await;
    assert_eq!((status, body["error"]["code"].clone()), (504, json!("deadline_exceeded")), "{body}");
    // A 200 ms deadline; 2 s leaves room for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(get(&node, "/run/bad/quick/echo").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bombs_and_deep_recursion_are_named_traps() {
    let node = TestNode::start(&catalog(), |c| c.guest_memory_mib = 32).await;
    let (status, body) = get(&node, "/run/bad/probe/alloc").await;
    assert_eq!(status, 500, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("out of memory"), "{body}");
    let (status, body) = get(&node, "/run/bad/hostile/recurse").await;
    assert_eq!(status, 500, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("stack overflow"), "{body}");
    assert_eq!(get(&node, "/run/bad/hostile/ok").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_output_is_dropped_and_a_huge_response_is_cut() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    // 100 MiB to stdout: the guest runs on (the node keeps 16 KiB of it for the log).
    let (status, body) = get(&node, "/run/bad/hostile/flood?mb=100").await;
    assert_eq!((status, body["flooded_mb"].clone()), (200, json!(100)), "{body}");
    // 64 MiB of body against the tenant's 1 MiB limit: the client never sees a complete response.
    match client().get(node.url("/run/bad/hostile/huge?mb=64")).send().await {
        Ok(response) => {
            let body = response.bytes().await;
            assert!(body.is_err(), "a cut body must not look complete ({} bytes)", body.unwrap().len());
        }
        Err(e) => assert!(format!("{e:?}").contains("IncompleteMessage"), "{e:?}"),
    }
    assert_eq!(get(&node, "/run/bad/hostile/ok").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compute_loop_meets_its_deadline_while_other_tenants_are_served() {
    let node = TestNode::start(&catalog(), |c| c.inference_threads = 2).await;
    let hog = tokio::spawn(client().get(node.url("/run/bad/looping/compute-loop?model=m")).send());
    let x = json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]});
    for _ in 0..5 {
        let response = client().post(node.url("/run/good/tensor?model=m")).json(&x).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let hog = hog.await.unwrap().unwrap();
    assert_eq!(hog.status(), 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_stops_a_spinning_guest_when_enabled() {
    let node = TestNode::start(&catalog(), |c| c.guest_fuel = 50_000_000).await;
    let (status, body) = get(&node, "/run/bad/probe/spin").await;
    assert_eq!(status, 500, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("out of fuel"), "{body}");
    assert_eq!(get(&node, "/run/bad/probe/echo").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_answer_429_with_retry_after_and_recover() {
    let seed = format!(
        "[tenants.q.limits]\nmax_concurrency = 2\n[tenants.q.components.probe]\npath = {}\n[tenants.q.endpoints.p]\ncomponent = \"probe\"\npublic = true\n\n[tenants.r.limits]\nrequests_per_second = 1\nburst = 2\n[tenants.r.components.probe]\npath = {0}\n[tenants.r.endpoints.p]\ncomponent = \"probe\"\npublic = true\n",
        toml_path(Path::new(guests::PROBE))
    );
    let node = TestNode::start(&seed, |_| {}).await;
    let sleepers: Vec<_> =
        (0..4).map(|_| tokio::spawn(client().get(node.url("/run/q/p/sleep?ms=1000")).send())).collect();
    let mut statuses = Vec::new();
    for sleeper in sleepers {
        let response = sleeper.await.unwrap().unwrap();
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(get(&node, "/run/q/p/echo").await.0, 200, "slots are given back");

    // Rate: a burst of 2, then 429 until the bucket refills (1 per second).
    assert_eq!(get(&node, "/run/r/p/echo").await.0, 200);
    assert_eq!(get(&node, "/run/r/p/echo").await.0, 200);
    assert_eq!(get(&node, "/run/r/p/echo").await.0, 429);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(get(&node, "/run/r/p/echo").await.0, 200);
}
