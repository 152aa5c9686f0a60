//! Getting the CMDB document: a file, or an `http://`/`https://` URL, with bounded time and
//! size so a stuck or runaway CMDB cannot hang or bloat the jump host.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::error::Error;

/// A larger document is refused: a few thousand hosts take well under a megabyte.
pub const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `from` names a URL pilote fetches rather than a file.
pub fn is_url(from: &str) -> bool {
    crate::core::url::split_scheme(from).is_some_and(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    })
}

/// Whether `from` is written as a URL (`scheme://...`), fetchable or not: a mistyped
/// scheme (`htps://user:token@...`) still carries its credential.
fn looks_like_url(from: &str) -> bool {
    from.contains("://")
}

/// `from` as it may be shown, logged or stored: a URL keeps only its scheme, host and port,
/// since a CMDB URL often carries its credential (`user:token@`, `?api_key=`); a file path
/// is kept whole.
pub fn shown(from: &str) -> String {
    if looks_like_url(from) {
        crate::core::url::mask(from)
    } else {
        from.to_string()
    }
}

/// The document's text. Exit codes follow who must act: a missing file, a refused request
/// (4xx) or a document that is not UTF-8 or too large is bad input (2); a CMDB that is
/// down, slow or failing (5xx) is an operation that failed (1) and may work later.
pub fn fetch(from: &str) -> Result<String, Error> {
    if is_url(from) {
        fetch_url(from)
    } else if looks_like_url(from) {
        Err(Error::BadInput(format!(
            "{} is not a URL pilote can fetch: give an http:// or https:// URL, or a file",
            shown(from)
        )))
    } else {
        read_file(Path::new(from))
    }
}

fn read_file(path: &Path) -> Result<String, Error> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::BadInput(format!("{}: no such file", path.display()))
        } else {
            Error::BadInput(format!("{}: cannot read: {e}", path.display()))
        }
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::BadInput(format!("{}: cannot read: {e}", path.display())))?;
    text_of(&path.display().to_string(), bytes)
}

fn fetch_url(url: &str) -> Result<String, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("cannot start the HTTP client"))?;
    let bytes = runtime.block_on(get(url))?;
    text_of(&shown(url), bytes)
}

/// Only the request sees `url` whole; every message names it by [`shown`].
async fn get(url: &str) -> Result<Vec<u8>, Error> {
    let masked = shown(url);
    let failed = |why: String| Error::Io {
        context: format!("cannot fetch {masked}"),
        source: std::io::Error::other(why),
    };
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .build()
        .map_err(|e| failed(root_cause(&e)))?;
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_builder() {
                Error::BadInput(format!(
                    "{masked} is not a URL pilote can fetch: {}",
                    root_cause(&e)
                ))
            } else if e.is_timeout() {
                failed(format!("no answer within {}s", TOTAL_TIMEOUT.as_secs()))
            } else {
                failed(root_cause(&e))
            }
        })?;
    let status = response.status();
    if !status.is_success() {
        let why = format!("the server answered {status}");
        return Err(if status.is_client_error() {
            Error::BadInput(format!("cannot fetch {masked}: {why}"))
        } else {
            failed(why)
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES)
    {
        return Err(too_large(&masked));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        if e.is_timeout() {
            failed(format!(
                "the document did not arrive within {}s",
                TOTAL_TIMEOUT.as_secs()
            ))
        } else {
            failed(root_cause(&e))
        }
    })? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(too_large(&masked));
        }
    }
    Ok(body)
}

fn too_large(from: &str) -> Error {
    Error::BadInput(format!(
        "{from}: the document is larger than {} MiB, the most an inventory document may be",
        MAX_DOCUMENT_BYTES / (1024 * 1024)
    ))
}

fn text_of(from: &str, bytes: Vec<u8>) -> Result<String, Error> {
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(too_large(from));
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        Error::Invalid(Diagnostics(vec![
            Diagnostic::at(
                Path::new(from),
                &text,
                offset..offset + 1,
                "the document is not valid UTF-8",
            )
            .expected("a UTF-8 JSON document"),
        ]))
    })
}

/// The innermost error: reqwest's own message is "error sending request" around it.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
