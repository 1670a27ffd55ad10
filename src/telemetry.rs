//! Logs and metrics. Requests are logged and counted by their matched route, never by
//! headers or raw paths, so bearer tokens and private names cannot reach logs or labels.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Installs the global subscriber; `RUST_LOG` picks levels (default `info`).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// What the allocator holds: bytes the program has allocated and not freed, and bytes of
/// memory the allocator keeps for them (pages, its own bookkeeping, freed pages not yet
/// returned). When the first grows, something keeps memory; when only the second does, the
/// allocator does.
#[derive(Debug, Clone, Copy)]
pub struct HeapStats {
    pub allocated: u64,
    pub resident: u64,
}

/// The allocator's reader, set by the binary that chose the allocator (none in tests).
static HEAP: std::sync::OnceLock<fn() -> Option<HeapStats>> = std::sync::OnceLock::new();

/// Makes `/metrics` report the heap through `read`.
pub fn set_heap_reader(read: fn() -> Option<HeapStats>) {
    let _ = HEAP.set(read);
}

/// The last reading and when it was taken: reading merges the allocator's per-thread
/// counters under their locks, so a flood of scrapes reads at most once a second.
static LAST_HEAP: Mutex<Option<(std::time::Instant, HeapStats)>> = Mutex::new(None);

/// The heap gauges in Prometheus text format, when an allocator reader is set.
pub fn render_heap() -> String {
    let Some(read) = HEAP.get() else { return String::new() };
    let heap = {
        let mut last = LAST_HEAP.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some((at, heap)) if at.elapsed() < std::time::Duration::from_secs(1) => Some(heap),
            _ => {
                let heap = read();
                *last = heap.map(|h| (std::time::Instant::now(), h));
                heap
            }
        }
    };
    let Some(heap) = heap else { return String::new() };
    let mut out = String::new();
    out.push_str("# HELP skilldex_heap_allocated_bytes Bytes allocated by the server and not freed.\n");
    out.push_str("# TYPE skilldex_heap_allocated_bytes gauge\n");
    let _ = writeln!(out, "skilldex_heap_allocated_bytes {}", heap.allocated);
    out.push_str("# HELP skilldex_heap_resident_bytes Bytes of memory the allocator holds.\n");
    out.push_str("# TYPE skilldex_heap_resident_bytes gauge\n");
    let _ = writeln!(out, "skilldex_heap_resident_bytes {}", heap.resident);
    out
}

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 11] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request counts and latencies by method, route and status, in Prometheus text format.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = all.entry((method.to_owned(), route.to_owned(), status)).or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let all = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP skilldex_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE skilldex_http_requests_total counter\n");
        for ((method, route, status), s) in all.iter() {
            let _ = writeln!(
                out,
                "skilldex_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP skilldex_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE skilldex_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in all.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "skilldex_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(out, "skilldex_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "skilldex_http_request_duration_seconds_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(out, "skilldex_http_request_duration_seconds_count{{{labels}}} {}", s.count);
        }
        out
    }
}
