//! What the bench reads from the controller process: its `/metrics` (Prometheus text), and its
//! memory and CPU time from `/proc`.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One scrape of `/metrics`: (name, labels, value) per sample.
#[derive(Clone, Debug, Default)]
pub struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            samples.push((name.to_string(), labels, value));
        }
        Scrape(samples)
    }

    /// The sum of `name`'s samples whose labels include every (key, value) of `only`.
    pub fn sum(&self, name: &str, only: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, labels, _)| {
                n == name && only.iter().all(|(k, v)| labels.get(*k).is_some_and(|l| l == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    /// `lac_aws_calls_total` by pool (GetFunction, GetPolicy, everything else), every outcome.
    pub fn calls_by_pool(&self) -> [f64; 3] {
        let mut out = [0.0; 3];
        for (name, labels, value) in &self.0 {
            if name != "lac_aws_calls_total" {
                continue;
            }
            let pool = match labels.get("operation").map(String::as_str) {
                Some("GetFunction") => 0,
                Some("GetPolicy") => 1,
                _ => 2,
            };
            out[pool] += value;
        }
        out
    }
}

/// `a="x",b="y"` (no escaped quotes in this controller's label values).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let Some((value, tail)) = after.split_once('"') else { break };
        labels.insert(key.trim_start_matches(',').trim().to_string(), value.to_string());
        rest = tail;
    }
    labels
}

/// GET `path` on 127.0.0.1:`port`: the body of a 200 answer.
pub async fn http_get(port: u16, path: &str) -> Result<String, String> {
    let exchange = async {
        let mut stream =
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| format!("GET {path}: no answer in 10 s"))??;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| format!("GET {path}: not HTTP"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or_default()));
    }
    Ok(body.to_string())
}

pub async fn scrape(port: u16) -> Result<Scrape, String> {
    http_get(port, "/metrics").await.map(|body| Scrape::parse(&body))
}

/// Memory of a process from `/proc/<pid>/status` (`self` for this one), in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss: u64,
    /// Peak resident set size (VmHWM).
    pub peak: u64,
}

pub fn memory(pid: &str) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Memory { rss: field("VmRSS:"), peak: field("VmHWM:") }
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf reads a constant of the system; no memory is touched.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for the bench and its children (an `Instant` is
/// only comparable within one process).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; no other memory is touched.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
