//! HTTP throughput (issue #8, target 3): a trivial guest against a bare route of the same server, same load.
//!
//! One in-process node set up as `edge-infer serve` sets itself up here (a tokio worker per core). The load
//! generator is one thread of its own (`load-generator`, a current-thread runtime, reqwest over keep-alive
//! HTTP/1.1 to 127.0.0.1) keeping `--concurrency` requests (default 16) in flight, closed loop:
//!
//! - **bare**: `GET /healthz`, answered by the node's router itself — the same hyper server, no guest;
//! - **guest**: `GET /run/bench/probe/echo`, the `probe` guest's trivial route: a fresh instance from the
//!   pool, the request into it, a small JSON out, with the endpoint lookup and per-tenant metering;
//! - **reused**: `GET /run/bench/reused/echo`, the same guest on an endpoint with `max_instance_reuse`: an
//!   instance answers many requests one after another (no new store, instantiation or slot reset).
//!
//! Phases alternate, bare then guest, `--rounds` times (default 3) for `--phase-secs` each (default 5; the
//! first half second of each is not counted). Reported: requests per second, p50 and p99, and the node's CPU
//! time per request (its threads' CPU from `/proc/self/task/*/stat` over the requests answered).
//!
//! `cargo bench -p edge-infer-tests --bench http_throughput [-- --concurrency 16 --phase-secs 5 --rounds 3]`.

use edge_infer_tests::{TestNode, guests, thread_cpu_seconds, toml_path};
use std::path::Path;
use std::time::{Duration, Instant};

struct Measured {
    latencies: Vec<Duration>,
    errors: u64,
    seconds: f64,
    node_cpu: f64,
}

/// CPU seconds of this process's threads whose name starts with `prefix`.
fn cpu_seconds(prefix: &str) -> f64 {
    thread_cpu_seconds().into_iter().filter(|(name, _)| name.starts_with(prefix)).map(|(_, used)| used).sum()
}

async fn phase(client: &reqwest::Client, url: &str, concurrency: usize, length: Duration) -> Measured {
    let start = Instant::now();
    let count_from = start + Duration::from_millis(500);
    let end = start + length;
    let mut cpu_before = None;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::task::spawn_local(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < end {
                    let sent = Instant::now();
                    let ok = match client.get(&url).send().await {
                        Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if sent >= count_from {
                        match ok {
                            true => latencies.push(sent.elapsed()),
                            false => errors += 1,
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    tokio::time::sleep_until(count_from.into()).await;
    cpu_before.get_or_insert((cpu_seconds("node-worker"), Instant::now()));
    tokio::time::sleep_until(end.into()).await;
    let (cpu_start, measured_from) = cpu_before.expect("set");
    let node_cpu = cpu_seconds("node-worker") - cpu_start;
    let seconds = measured_from.elapsed().as_secs_f64();
    let mut measured = Measured { latencies: Vec::new(), errors: 0, seconds, node_cpu };
    for worker in workers {
        let (latencies, errors) = worker.await.unwrap();
        measured.latencies.extend(latencies);
        measured.errors += errors;
    }
    measured.latencies.sort();
    measured
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| -> u64 {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().unwrap())
    };
    let (concurrency, phase_secs, rounds) =
        (arg("--concurrency", 16) as usize, arg("--phase-secs", 5), arg("--rounds", 3));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let node_rt = edge_infer_tests::node_runtime();
    let catalog = format!(
        r#"
[tenants.bench.components.probe]
path = {}
[tenants.bench.endpoints.probe]
component = "probe"
public = true
[tenants.bench.endpoints.reused]
component = "probe"
public = true
max_instance_reuse = 1000000
"#,
        toml_path(Path::new(guests::PROBE))
    );
    let node = node_rt.block_on(TestNode::start(&catalog, |_| {}));
    let routes = [node.url("/healthz"), node.url("/run/bench/probe/echo"), node.url("/run/bench/reused/echo")];

    let load = std::thread::Builder::new()
        .name("load-generator".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            tokio::task::LocalSet::new().block_on(&rt, async {
                let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
                for url in &routes {
                    phase(&client, url, concurrency, Duration::from_secs(1)).await;
                }
                let mut results: [Vec<Measured>; 3] = Default::default();
                for _ in 0..rounds {
                    for (i, url) in routes.iter().enumerate() {
                        results[i].push(phase(&client, url, concurrency, Duration::from_secs(phase_secs)).await);
                    }
                }
                results
            })
        })
        .unwrap();
    let results = load.join().unwrap();
    println!("\n{cores} cores; {concurrency} requests in flight; {rounds} rounds of {phase_secs} s per route\n");
    println!("| route | requests | errors | req/s | p50 µs | p99 µs | node CPU µs / request |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rates = Vec::new();
    let names = [
        "bare `/healthz`",
        "trivial guest `/run/bench/probe/echo`",
        "trivial guest, reused instances `/run/bench/reused/echo`",
    ];
    for (name, phases) in names.iter().zip(&results) {
        let mut latencies: Vec<Duration> = phases.iter().flat_map(|p| p.latencies.iter().copied()).collect();
        latencies.sort();
        let (seconds, cpu): (f64, f64) =
            phases.iter().map(|p| (p.seconds, p.node_cpu)).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        let errors: u64 = phases.iter().map(|p| p.errors).sum();
        let rate = latencies.len() as f64 / seconds;
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_micros();
        println!(
            "| {name} | {} | {errors} | {rate:.0} | {} | {} | {:.1} |",
            latencies.len(),
            at(0.5),
            at(0.99),
            cpu * 1e6 / latencies.len() as f64
        );
        rates.push(rate);
    }
    println!("\nguest / bare requests per second: {:.2} (target >= 0.5)", rates[1] / rates[0]);
    println!("reused guest / bare requests per second: {:.2}", rates[2] / rates[0]);
    drop(node);
}
