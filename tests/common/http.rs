//! A tiny HTTP/1.1 server on 127.0.0.1 for tests that give pilote a URL: one connection at a
//! time, `Connection: close`, each request answered by a function of the test.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};

/// A request as the server read it.
pub struct Request {
    /// The path and query, as sent.
    pub target: String,
    /// Names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// Whether header `name` (lower-case) came with exactly `value`.
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.headers.iter().any(|(k, v)| k == name && v == value)
    }
}

/// What to answer: `status` as in a status line (`200 OK`), then the body, announced as
/// `length` bytes when that is given (a lie, for size limits), else as its own length.
pub struct Answer {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
    pub length: Option<usize>,
}

impl Answer {
    pub fn text(status: &'static str, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: body.to_string(),
            length: None,
        }
    }
}

/// Serves `answer` until the test process ends; the address it listens on.
pub fn serve(answer: impl Fn(&Request) -> Answer + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut headers = Vec::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some((k, v)) = header.trim_end().split_once(':') {
                    headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let a = answer(&Request { target, headers });
            // The client may have given up already: write errors are ignored.
            let _ = write!(
                stream,
                "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                a.status,
                a.content_type,
                a.length.unwrap_or(a.body.len()),
                a.body
            );
        }
    });
    addr
}
