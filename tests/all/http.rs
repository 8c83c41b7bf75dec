//! The HTTP front: routing errors, the body limit (also for chunked bodies), traps before and after the
//! response started, HTTP/2 without TLS, and a graceful shutdown that lets in-flight requests finish.

use crate::sandbox::probe_catalog;
use edge_infer_tests::{TestNode, client, guests, raw_exchange, toml_path};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn trap_catalog() -> String {
    format!(
        "[tenants.t.components.trap]\npath = {}\n[tenants.t.endpoints.trap]\ncomponent = \"trap\"\npublic = true\n",
        toml_path(Path::new(guests::TRAP))
    )
}

#[tokio::test]
async fn unknown_tenants_endpoints_and_routes_are_404_json() {
    let node = TestNode::start(&probe_catalog(), |_| {}).await;
    for path in ["/run/t/nope", "/run/nobody/probe/echo", "/nothing", "/run/t"] {
        let response = client().get(node.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
        assert!(body["error"]["message"].is_string());
    }
    assert_eq!(client().get(node.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client().get(node.url("/readyz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let node = TestNode::start(&probe_catalog(), |c| c.body_limit = 1024).await;
    let mut body = Vec::new();
    for _ in 0..4 {
        body.extend_from_slice(b"3e8\r\n");
        body.extend_from_slice(&[b'a'; 1000]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /run/t/probe/echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let answer = raw_exchange(node.addr, head, &body).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");

    // Under the limit, the same way, is fine; and a declared length over the limit is refused too.
    let small = b"5\r\nhello\r\n0\r\n\r\n";
    assert!(raw_exchange(node.addr, head, small).await.starts_with("HTTP/1.1 200"));
    let response = client().post(node.url("/run/t/probe/echo")).body(vec![0u8; 2048]).send().await.unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn traps_are_500_with_a_request_id_and_the_node_keeps_serving() {
    // More concurrent traps than the pool has instance slots.
    let node = TestNode::start(&trap_catalog(), |c| c.max_instances = 4).await;
    let traps: Vec<_> = (0..12).map(|_| tokio::spawn(client().get(node.url("/run/t/trap/before")).send())).collect();
    let mut trapped = 0;
    for trap in traps {
        let response = trap.await.unwrap().unwrap();
        let status = response.status().as_u16();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: Value = response.json().await.unwrap();
        // A request that found every slot taken is told so (503); the others trapped (500).
        match status {
            500 => {
                assert_eq!(body["error"]["code"], "guest_trap", "{body}");
                assert_eq!(body["error"]["request_id"], id);
                trapped += 1;
            }
            503 => assert_eq!(body["error"]["code"], "busy", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(trapped >= 1);
    let ok = client().get(node.url("/run/t/trap/ok")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn with_every_instance_slot_taken_a_request_is_503_not_a_trap() {
    let node = TestNode::start(&probe_catalog(), |c| c.max_instances = 2).await;
    let sleepers: Vec<_> =
        (0..4).map(|_| tokio::spawn(client().get(node.url("/run/t/probe/sleep?ms=2000")).send())).collect();
    let mut statuses = Vec::new();
    for sleeper in sleepers {
        let response = sleeper.await.unwrap().unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 503 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "busy", "{body}");
        }
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 503, 503]);
}

#[tokio::test]
async fn a_trap_after_the_response_started_cuts_the_body_and_the_node_keeps_serving() {
    let node = TestNode::start(&trap_catalog(), |_| {}).await;
    // Depending on how far hyper got with writing, the client sees the head and a broken body, or a
    // connection closed mid-message; never a complete response.
    match client().get(node.url("/run/t/trap/after")).send().await {
        Ok(response) => {
            assert_eq!(response.status(), 200);
            assert!(response.bytes().await.is_err(), "a body cut by a trap must not look complete");
        }
        Err(e) => assert!(format!("{e:?}").contains("IncompleteMessage"), "{e:?}"),
    }
    let ok = client().get(node.url("/run/t/trap/ok")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn http2_without_tls_is_served() {
    let node = TestNode::start(&probe_catalog(), |_| {}).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let response = h2.get(node.url("/run/t/probe/echo?via=h2")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["path"], "/echo?via=h2");
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let mut node = TestNode::start(&probe_catalog(), |_| {}).await;
    let slow = tokio::spawn(client().get(node.url("/run/t/probe/sleep?ms=1500")).send());
    // Let the request reach the guest before shutting down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = node.begin_shutdown();
    let response = slow.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["slept_ms"], 1500);
    tokio::time::timeout(Duration::from_secs(30), server).await.expect("serve returns").unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(node.addr).await.is_err(), "still accepting after shutdown");
}
