//! A private Prometheus Alertmanager on loopback: the real Debian `prometheus-alertmanager`,
//! with its own config and storage in a temp dir, clustering off, on a free 127.0.0.1 port.
//! Read with plain HTTP/1.0 requests so the harness does not depend on what it tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

pub struct Alertmanager {
    pub dir: TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Alertmanager {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        Self::start_on(port)
    }

    /// On a given port (a test that starts it late knows the port beforehand).
    pub fn start_on(port: u16) -> Self {
        assert!(
            std::path::Path::new(ALERTMANAGER).exists(),
            "{ALERTMANAGER} is missing: install prometheus-alertmanager (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("alertmanager.yml"),
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
        .expect("write config");
        let mut am = Self {
            dir,
            port,
            child: None,
        };
        am.spawn();
        am
    }

    fn spawn(&mut self) {
        let root = self.dir.path();
        let log = std::fs::File::create(root.join("alertmanager.log")).expect("log");
        let child = Command::new(ALERTMANAGER)
            .arg(format!(
                "--config.file={}",
                root.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", root.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if get(self.port, "/-/ready").is_some_and(|(status, _)| status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "alertmanager did not start: {}",
                std::fs::read_to_string(root.join("alertmanager.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every silence it knows, as the v2 API lists them.
    pub fn silences(&self) -> Vec<serde_json::Value> {
        let (status, body) = get(self.port, "/api/v2/silences").expect("alertmanager answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Vec<serde_json::Value>>(&body).expect("silences json")
    }

    /// Expires silence `id`, as an operator in Alertmanager's UI would.
    pub fn expire(&self, id: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        write!(
            s,
            "DELETE /api/v2/silence/{id} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        )
        .expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        assert!(
            text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
            "{text}"
        );
    }

    /// The silences in state `state` (`active`, `expired`, `pending`).
    pub fn in_state(&self, state: &str) -> Vec<serde_json::Value> {
        self.silences()
            .into_iter()
            .filter(|s| s["status"]["state"] == state)
            .collect()
    }

    /// Waits until `f` holds of the silences, or panics after 20 s with what there is.
    pub fn wait_for(&self, what: &str, f: impl Fn(&[serde_json::Value]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.silences();
            if f(&s) {
                return;
            }
            assert!(Instant::now() < deadline, "never {what}: {s:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Alertmanager {
    /// Stops it (its data stays, for a restart that is not needed here).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET path` over HTTP/1.0 (so the answer is never chunked): (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}
