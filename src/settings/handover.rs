//! Files a person's own pilote read with the person's rights and handed over, on stdin, to
//! the pilote that sudo started as the team's account. That one never opens a path a person
//! names: the account can read the store, and a plan file "/var/lib/pilote/pilote.db" would
//! print pieces of it in its parse errors.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// At most this much is handed over in all: plans are typed by people.
pub const MAX_HANDOVER: u64 = 16 * 1024 * 1024;

static HANDED: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();

/// The frames of `files`: for each, its name's length (u32, big endian), the name, its
/// length (u64) and its bytes. Names are the paths as the person typed them.
pub fn encode(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in files {
        out.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn decode(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let bad = || "the files handed over are cut short".to_string();
    let mut files = Vec::new();
    while !data.is_empty() {
        let (len, rest) = data.split_at_checked(4).ok_or_else(bad)?;
        let len = u32::from_be_bytes(len.try_into().map_err(|_| bad())?) as usize;
        let (name, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
        let (size, rest) = rest.split_at_checked(8).ok_or_else(bad)?;
        let size = usize::try_from(u64::from_be_bytes(size.try_into().map_err(|_| bad())?))
            .map_err(|_| bad())?;
        let (bytes, rest) = rest.split_at_checked(size).ok_or_else(bad)?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| bad())?;
        files.push((name, bytes.to_vec()));
        data = rest;
    }
    Ok(files)
}

/// Reads the handed-over files from stdin (once, at start).
pub fn receive() -> Result<(), String> {
    let mut data = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_HANDOVER + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read the files handed over: {e}"))?;
    if data.len() as u64 > MAX_HANDOVER {
        return Err(format!(
            "more than {MAX_HANDOVER} bytes of files were handed over"
        ));
    }
    let _ = HANDED.set(decode(&data)?);
    Ok(())
}

/// The bytes handed over for `path`, as the person named it.
pub fn get(path: &Path) -> Option<&'static [u8]> {
    let name = path.to_string_lossy();
    HANDED
        .get()?
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_cut_is_an_error() {
        let files = vec![
            ("plans/a.toml".to_string(), b"app = \"pets\"\n".to_vec()),
            ("b\u{e9}.toml".to_string(), vec![0xff, 0, 1]),
        ];
        let bytes = encode(&files);
        assert_eq!(decode(&bytes).expect("decode"), files);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert_eq!(decode(&[]).expect("empty"), Vec::new());
    }
}
