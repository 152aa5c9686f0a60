//! Running one `http` step: a few probes against a URL, each judged on status, body and
//! latency, summed up as p50/p95 latency and availability.
//!
//! A probe that fails (refused, timed out, wrong status, wrong body, too slow) is a failed
//! [`Probe`], not an error: the step's verdict is [`Report::passed`]. `Err` is kept for checks
//! that cannot run at all (bad URL, method or regex) and for cancellation.

use std::error::Error as _;
use std::io;
use std::time::{Duration, Instant};

use regex::Regex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};
use tokio::sync::watch;

/// At most this much of a response body is read: a health endpoint that streams megabytes
/// must not fill memory, and `expect_body` is meant for short markers.
const MAX_BODY: usize = 1024 * 1024;

/// What to probe and how to judge it.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    pub method: &'a str,
    /// Whole, credentials and all: only the request sees it.
    pub url: &'a str,
    /// How messages name it: its credentials masked (see `core::url::mask_credentials`).
    pub shown_url: &'a str,
    /// Sent with every probe, marked sensitive (kept out of any debug output).
    pub headers: &'a [(String, String)],
    /// `(user, password)`.
    pub basic_auth: Option<(&'a str, &'a str)>,
    pub expect_status: u16,
    /// Written `/.../` it is a regex; anything else is a substring of the body.
    pub expect_body: Option<&'a str>,
    pub max_latency: Option<Duration>,
    pub probes: u32,
    pub connect_timeout: Duration,
    /// The deadline of one probe, connect to last body byte.
    pub timeout: Duration,
    /// The pause between the end of one probe and the start of the next.
    pub interval: Duration,
}

/// The result of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// From sending the request to the end of the body, or to the failure.
    pub latency: Duration,
    /// `None` when no response arrived.
    pub status: Option<u16>,
    pub ok: bool,
    /// Why the probe failed; several reasons are joined with `; `.
    pub problem: Option<String>,
}

/// All probes of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub probes: Vec<Probe>,
    /// Nearest-rank percentiles over every probe's latency, failed ones included.
    pub p50: Duration,
    pub p95: Duration,
    /// Ok probes / probes, in `0.0..=1.0`.
    pub availability: f64,
}

impl Report {
    /// Whether every probe was ok (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.probes.is_empty() && self.probes.iter().all(|p| p.ok)
    }

    /// One line, e.g. `5/5 ok, p50 12 ms, p95 30 ms, availability 100%`.
    pub fn summary(&self) -> String {
        let total = self.probes.len();
        let ok = self.probes.iter().filter(|p| p.ok).count();
        format!(
            "{ok}/{total} ok, p50 {}, p95 {}, availability {}",
            millis(self.p50),
            millis(self.p95),
            percent(ok, total)
        )
    }
}

/// Runs `check.probes` probes one after the other, calling `on_probe(index, probe)` (index
/// from 0) after each. Returns `Err("cancelled")` as soon as `cancel` turns true.
pub async fn run(
    check: &Check<'_>,
    mut on_probe: impl FnMut(usize, &Probe),
    mut cancel: watch::Receiver<bool>,
) -> Result<Report, String> {
    let method = parse_method(check.method)?;
    let url = parse_url(check.url, check.shown_url)?;
    let headers = parse_headers(check.headers)?;
    let body = check.expect_body.map(BodyMatch::parse).transpose()?;
    if check.probes == 0 {
        return Err("an http check needs at least one probe".into());
    }
    if check.timeout.is_zero() || check.connect_timeout.is_zero() {
        return Err("an http check needs timeouts greater than zero".into());
    }
    // Redirects keep reqwest's default policy (follow up to 10): the status judged is the
    // final one. Proxies from the environment are honoured, as for any other client.
    let client = Client::builder()
        .connect_timeout(check.connect_timeout)
        .timeout(check.timeout)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("failed to build the http client: {}", root_cause(&e)))?;

    let mut probes = Vec::new();
    for index in 0..check.probes as usize {
        if index > 0 && !check.interval.is_zero() {
            tokio::select! {
                biased;
                () = cancelled(&mut cancel) => return Err("cancelled".into()),
                () = tokio::time::sleep(check.interval) => {}
            }
        }
        let probe = tokio::select! {
            biased;
            () = cancelled(&mut cancel) => return Err("cancelled".into()),
            p = probe(&client, check, (&method, &url, &headers), body.as_ref()) => p,
        };
        on_probe(index, &probe);
        probes.push(probe);
    }
    Ok(report(probes))
}

/// Resolves once `cancel` is true; never, if the sender is gone (no one can cancel).
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|&c| c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn parse_method(text: &str) -> Result<Method, String> {
    // Extension methods are valid HTTP, but in a plan they are far more likely a typo.
    match text.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "HEAD" => Ok(Method::HEAD),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        "OPTIONS" => Ok(Method::OPTIONS),
        _ => Err(format!(
            "unknown http method `{text}`, expected GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
        )),
    }
}

fn parse_url(text: &str, shown: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("invalid url `{shown}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "invalid url `{shown}`: scheme `{}` is not http or https",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err(format!("invalid url `{shown}`: no host"));
    }
    Ok(url)
}

/// The headers to send; a value is never quoted back (it may hold a secret).
fn parse_headers(headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let key = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not an HTTP header name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            format!("the value of header `{name}` cannot be sent: it holds a line break or a control character")
        })?;
        value.set_sensitive(true);
        map.append(key, value);
    }
    Ok(map)
}

/// How `expect_body` is matched against a body.
#[derive(Debug)]
enum BodyMatch {
    Contains(String),
    Regex(Regex),
}

impl BodyMatch {
    /// `/.../` is a regex, anything else a substring.
    fn parse(text: &str) -> Result<Self, String> {
        match text
            .strip_prefix('/')
            .and_then(|rest| rest.strip_suffix('/'))
        {
            Some(pattern) => Regex::new(pattern)
                .map(Self::Regex)
                .map_err(|e| format!("invalid regex in expect_body `{text}`: {e}")),
            None => Ok(Self::Contains(text.to_string())),
        }
    }

    /// Why `body` does not match, if it does not.
    fn mismatch(&self, body: &str) -> Option<String> {
        match self {
            Self::Contains(s) if !body.contains(s.as_str()) => {
                Some(format!("body does not contain `{s}`"))
            }
            Self::Regex(re) if !re.is_match(body) => {
                Some(format!("body does not match /{}/", re.as_str()))
            }
            _ => None,
        }
    }
}

async fn probe(
    client: &Client,
    check: &Check<'_>,
    (method, url, headers): (&Method, &Url, &HeaderMap),
    expect_body: Option<&BodyMatch>,
) -> Probe {
    let start = Instant::now();
    let mut request = client
        .request(method.clone(), url.clone())
        .headers(headers.clone());
    if let Some((user, password)) = check.basic_auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return failed(start.elapsed(), None, describe(&e, check)),
    };
    let status = response.status().as_u16();
    // The body is always read, so latency means the same with or without `expect_body`.
    let body = match read_body(response).await {
        Ok(b) => b,
        Err(e) => return failed(start.elapsed(), Some(status), describe(&e, check)),
    };
    let latency = start.elapsed();

    let mut problems = Vec::new();
    if status != check.expect_status {
        problems.push(format!("status {status}, expected {}", check.expect_status));
    }
    if let Some(m) = expect_body.and_then(|m| m.mismatch(&String::from_utf8_lossy(&body))) {
        problems.push(m);
    }
    if let Some(max) = check.max_latency
        && latency > max
    {
        problems.push(format!("took {}, max {}", millis(latency), millis(max)));
    }
    Probe {
        latency,
        status: Some(status),
        ok: problems.is_empty(),
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

fn failed(latency: Duration, status: Option<u16>, problem: String) -> Probe {
    Probe {
        latency,
        status,
        ok: false,
        problem: Some(problem),
    }
}

/// Reads up to `MAX_BODY` bytes; the rest is dropped with the connection.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(body)
}

/// A short reason for a failed request; reqwest's own message only names the URL.
fn describe(e: &reqwest::Error, check: &Check<'_>) -> String {
    // A connect timeout is a connect error caused by a timeout; the total deadline is a
    // timeout alone (it can also fire during connect or while reading the body).
    if e.is_connect() && e.is_timeout() {
        return format!("connect timeout after {}", seconds(check.connect_timeout));
    }
    if e.is_timeout() {
        return format!("timed out after {}", seconds(check.timeout));
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                io::ErrorKind::ConnectionReset => return "connection reset".into(),
                _ => {}
            }
        }
        source = err.source();
    }
    if e.is_connect() {
        return format!("connection failed: {}", root_cause(e));
    }
    format!("request failed: {}", root_cause(e))
}

/// The innermost error's message, which is the one that says what happened.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn report(probes: Vec<Probe>) -> Report {
    let latencies: Vec<Duration> = probes.iter().map(|p| p.latency).collect();
    let ok = probes.iter().filter(|p| p.ok).count();
    let availability = if probes.is_empty() {
        0.0
    } else {
        ok as f64 / probes.len() as f64
    };
    Report {
        p50: nearest_rank(&latencies, 50),
        p95: nearest_rank(&latencies, 95),
        availability,
        probes,
    }
}

/// The nearest-rank percentile: the smallest value with at least `pct`% of the values at or
/// below it. Zero for no values.
fn nearest_rank(values: &[Duration], pct: usize) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (pct.min(100) * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Whole seconds as `2 s`, anything else as milliseconds.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        millis(d)
    }
}

/// Floored to a tenth, so anything short of all probes never reads `100%`.
fn percent(ok: usize, total: usize) -> String {
    if total == 0 {
        return "0%".into();
    }
    let tenths = ok * 1000 / total;
    if tenths.is_multiple_of(10) {
        format!("{}%", tenths / 10)
    } else {
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests;
