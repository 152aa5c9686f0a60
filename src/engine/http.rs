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
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    /// A tiny HTTP/1.1 server on loopback, one thread per connection, `Connection: close`.
    fn serve() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let flap = Arc::new(AtomicUsize::new(0));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let flap = Arc::clone(&flap);
                thread::spawn(move || handle(stream, &flap));
            }
        });
        addr
    }

    fn handle(mut stream: TcpStream, flap: &AtomicUsize) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head);
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        let (status, body) = match path {
            "/ok" => (200, "status: ok"),
            "/slow" => {
                thread::sleep(Duration::from_millis(300));
                (200, "status: ok")
            }
            "/fail" => (503, "unavailable"),
            "/flap" if flap.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) => (200, "status: ok"),
            "/flap" => (503, "unavailable"),
            _ => (404, "not found"),
        };
        let reason = match status {
            200 => "OK",
            503 => "Service Unavailable",
            _ => "Not Found",
        };
        // The client may have given up already (timeout tests): ignore write errors.
        let _ = write!(
            stream,
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn check(url: &str) -> Check<'_> {
        Check {
            method: "GET",
            url,
            shown_url: url,
            headers: &[],
            basic_auth: None,
            expect_status: 200,
            expect_body: None,
            max_latency: None,
            probes: 1,
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            interval: Duration::ZERO,
        }
    }

    /// A receiver whose sender stays alive (a dropped sender means "never cancelled").
    fn no_cancel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
        watch::channel(false)
    }

    async fn run_check(c: &Check<'_>) -> Result<Report, String> {
        let (_tx, rx) = no_cancel();
        run(c, |_, _| {}, rx).await
    }

    fn problems(r: &Report) -> Vec<Option<&str>> {
        r.probes.iter().map(|p| p.problem.as_deref()).collect()
    }

    #[tokio::test]
    async fn all_ok_passes_with_full_availability() {
        let url = format!("http://{}/ok", serve());
        let c = Check {
            probes: 5,
            ..check(&url)
        };
        let mut seen = Vec::new();
        let (_tx, rx) = no_cancel();
        let r = run(&c, |i, p| seen.push((i, p.status)), rx)
            .await
            .expect("runs");
        assert!(r.passed());
        assert_eq!(r.availability, 1.0);
        assert_eq!(r.probes.len(), 5);
        assert_eq!(
            seen,
            (0..5).map(|i| (i, Some(200))).collect::<Vec<_>>(),
            "on_probe is called once per probe, in order"
        );
        assert!(r.p50 <= r.p95);
        assert!(r.summary().starts_with("5/5 ok, p50 "), "{}", r.summary());
        assert!(
            r.summary().ends_with(", availability 100%"),
            "{}",
            r.summary()
        );
    }

    #[tokio::test]
    async fn body_substring_and_regex() {
        let url = format!("http://{}/ok", serve());
        for (expect, ok, problem) in [
            ("status: ok", true, None),
            ("degraded", false, Some("body does not contain `degraded`")),
            // Without slashes a regex is just text: the body holds no literal `^status`.
            ("^status", false, Some("body does not contain `^status`")),
            ("/^status: (ok|up)$/", true, None),
            ("/^ok/", false, Some("body does not match /^ok/")),
        ] {
            let c = Check {
                expect_body: Some(expect),
                ..check(&url)
            };
            let r = run_check(&c).await.expect("runs");
            assert_eq!(r.passed(), ok, "{expect}");
            assert_eq!(problems(&r), [problem], "{expect}");
        }
    }

    #[tokio::test]
    async fn wrong_status_fails_the_probe() {
        let url = format!("http://{}/fail", serve());
        let c = Check {
            expect_body: Some("status: ok"),
            ..check(&url)
        };
        let r = run_check(&c).await.expect("runs");
        assert!(!r.passed());
        assert_eq!(r.probes[0].status, Some(503));
        assert_eq!(
            problems(&r),
            [Some(
                "status 503, expected 200; body does not contain `status: ok`"
            )]
        );
        assert_eq!(r.availability, 0.0);
    }

    #[tokio::test]
    async fn expected_non_200_status_passes() {
        let url = format!("http://{}/fail", serve());
        let c = Check {
            expect_status: 503,
            ..check(&url)
        };
        assert!(run_check(&c).await.expect("runs").passed());
    }

    #[tokio::test]
    async fn slow_probes_fail_on_max_latency() {
        let url = format!("http://{}/slow", serve());
        let c = Check {
            probes: 2,
            max_latency: Some(Duration::from_millis(100)),
            ..check(&url)
        };
        let r = run_check(&c).await.expect("runs");
        assert!(!r.passed());
        for p in &r.probes {
            assert_eq!(p.status, Some(200));
            assert!(p.latency >= Duration::from_millis(300), "{:?}", p.latency);
            let problem = p.problem.as_deref().expect("a problem");
            assert!(problem.starts_with("took "), "{problem}");
            assert!(problem.ends_with(" ms, max 100 ms"), "{problem}");
        }
        assert!(r.p50 >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn timeout_shorter_than_the_response_fails_the_probe() {
        let url = format!("http://{}/slow", serve());
        let c = Check {
            timeout: Duration::from_millis(100),
            ..check(&url)
        };
        let started = Instant::now();
        let r = run_check(&c).await.expect("runs");
        assert!(started.elapsed() < Duration::from_millis(280));
        assert_eq!(r.probes[0].status, None);
        assert_eq!(problems(&r), [Some("timed out after 100 ms")]);
        assert!(!r.passed());
    }

    #[tokio::test]
    async fn flapping_endpoint_has_half_availability() {
        let url = format!("http://{}/flap", serve());
        let c = Check {
            probes: 4,
            ..check(&url)
        };
        let r = run_check(&c).await.expect("runs");
        let statuses: Vec<_> = r.probes.iter().map(|p| p.status).collect();
        assert_eq!(statuses, [Some(200), Some(503), Some(200), Some(503)]);
        assert_eq!(r.availability, 0.5);
        assert!(!r.passed());
        assert!(r.summary().starts_with("2/4 ok, "), "{}", r.summary());
        assert!(
            r.summary().ends_with(", availability 50%"),
            "{}",
            r.summary()
        );
    }

    #[tokio::test]
    async fn connection_refused_fails_the_probe() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("local addr").port()
        };
        let url = format!("http://127.0.0.1:{port}/ok");
        let r = run_check(&check(&url)).await.expect("runs");
        assert_eq!(r.probes[0].status, None);
        assert_eq!(problems(&r), [Some("connection refused")]);
        assert!(!r.passed());
    }

    #[tokio::test]
    async fn cancel_mid_run_returns_at_once() {
        let url = format!("http://{}/slow", serve());
        let c = Check {
            probes: 10,
            ..check(&url)
        };
        let (tx, rx) = watch::channel(false);
        let mut seen = 0;
        let started = Instant::now();
        let (result, ()) = tokio::join!(run(&c, |_, _| seen += 1, rx), async {
            // During the second probe.
            tokio::time::sleep(Duration::from_millis(450)).await;
            tx.send_replace(true);
        });
        assert_eq!(result, Err("cancelled".to_string()));
        assert_eq!(seen, 1);
        assert!(
            started.elapsed() < Duration::from_millis(590),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn cancel_during_the_interval_and_before_start() {
        let url = format!("http://{}/ok", serve());
        let c = Check {
            probes: 3,
            interval: Duration::from_secs(10),
            ..check(&url)
        };
        let (tx, rx) = watch::channel(false);
        let started = Instant::now();
        let (result, ()) = tokio::join!(run(&c, |_, _| {}, rx), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tx.send_replace(true);
        });
        assert_eq!(result, Err("cancelled".to_string()));
        assert!(started.elapsed() < Duration::from_secs(1));

        let (_tx, rx) = watch::channel(true);
        let mut seen = 0;
        assert_eq!(
            run(&c, |_, _| seen += 1, rx).await,
            Err("cancelled".to_string())
        );
        assert_eq!(seen, 0);
    }

    #[tokio::test]
    async fn a_dropped_cancel_sender_does_not_cancel() {
        let url = format!("http://{}/ok", serve());
        let (tx, rx) = watch::channel(false);
        drop(tx);
        let r = run(&check(&url), |_, _| {}, rx).await.expect("runs");
        assert!(r.passed());
    }

    #[tokio::test]
    async fn impossible_checks_are_errors() {
        let bad = |c: Check<'static>| async move { run_check(&c).await.expect_err("an error") };
        let ok = check("http://127.0.0.1:1/ok");
        let e = bad(Check {
            url: "not a url",
            shown_url: "not a url",
            ..ok
        })
        .await;
        assert!(e.starts_with("invalid url `not a url`: "), "{e}");
        let e = bad(Check {
            url: "ftp://127.0.0.1/x",
            shown_url: "ftp://127.0.0.1/x",
            ..ok
        })
        .await;
        assert_eq!(
            e,
            "invalid url `ftp://127.0.0.1/x`: scheme `ftp` is not http or https"
        );
        let e = bad(Check {
            method: "GTE",
            ..ok
        })
        .await;
        assert!(e.starts_with("unknown http method `GTE`"), "{e}");
        let e = bad(Check {
            expect_body: Some("/(unclosed/"),
            ..ok
        })
        .await;
        assert!(
            e.starts_with("invalid regex in expect_body `/(unclosed/`: "),
            "{e}"
        );
        let e = bad(Check { probes: 0, ..ok }).await;
        assert_eq!(e, "an http check needs at least one probe");
    }

    #[test]
    fn methods_are_case_insensitive() {
        assert_eq!(parse_method("get"), Ok(Method::GET));
        assert_eq!(parse_method("Head"), Ok(Method::HEAD));
        assert!(parse_method("").is_err());
    }

    #[test]
    fn only_slash_wrapped_text_is_a_regex() {
        assert!(matches!(BodyMatch::parse("/a.c/"), Ok(BodyMatch::Regex(_))));
        // A lone slash starts and ends with a slash but wraps nothing.
        assert!(matches!(BodyMatch::parse("/"), Ok(BodyMatch::Contains(_))));
        assert!(matches!(
            BodyMatch::parse("/a.c"),
            Ok(BodyMatch::Contains(_))
        ));
        assert_eq!(
            BodyMatch::parse("a.c")
                .expect("parses")
                .mismatch("abc")
                .as_deref(),
            Some("body does not contain `a.c`")
        );
        assert_eq!(
            BodyMatch::parse("/a.c/").expect("parses").mismatch("abc"),
            None
        );
    }

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_of_one_value() {
        let one = ms(&[42]);
        assert_eq!(nearest_rank(&one, 50), Duration::from_millis(42));
        assert_eq!(nearest_rank(&one, 95), Duration::from_millis(42));
    }

    #[test]
    fn nearest_rank_of_twenty_values() {
        // 1..=20 ms, shuffled: p50 is the 10th value, p95 the 19th.
        let twenty = ms(&[
            7, 20, 3, 14, 1, 18, 9, 12, 5, 16, 2, 19, 11, 6, 15, 8, 13, 4, 17, 10,
        ]);
        assert_eq!(nearest_rank(&twenty, 50), Duration::from_millis(10));
        assert_eq!(nearest_rank(&twenty, 95), Duration::from_millis(19));
        assert_eq!(nearest_rank(&twenty, 100), Duration::from_millis(20));
        assert_eq!(nearest_rank(&twenty, 0), Duration::from_millis(1));
    }

    #[test]
    fn nearest_rank_small_sets_and_empty() {
        assert_eq!(nearest_rank(&ms(&[30, 10]), 50), Duration::from_millis(10));
        assert_eq!(nearest_rank(&ms(&[30, 10]), 95), Duration::from_millis(30));
        assert_eq!(
            nearest_rank(&ms(&[1, 2, 3, 4, 100]), 95),
            Duration::from_millis(100)
        );
        assert_eq!(nearest_rank(&[], 50), Duration::ZERO);
    }

    #[test]
    fn summary_and_availability_wording() {
        let probe = |ok, latency| Probe {
            latency: Duration::from_millis(latency),
            status: Some(200),
            ok,
            problem: None,
        };
        let r = report(vec![probe(true, 12), probe(true, 30), probe(false, 5)]);
        assert_eq!(
            r.summary(),
            "2/3 ok, p50 12 ms, p95 30 ms, availability 66.6%"
        );
        assert!(!r.passed());
        assert_eq!(percent(199, 200), "99.5%");
        assert_eq!(percent(1999, 2000), "99.9%");
        assert_eq!(percent(0, 4), "0%");
        let empty = report(Vec::new());
        assert!(!empty.passed());
        assert_eq!(empty.availability, 0.0);
    }

    #[test]
    fn durations_in_messages() {
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(seconds(Duration::from_millis(100)), "100 ms");
        assert_eq!(millis(Duration::from_micros(812_900)), "812 ms");
    }
}
