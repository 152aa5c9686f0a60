//! Tests of the http step.

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
