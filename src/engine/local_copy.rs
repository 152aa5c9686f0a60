//! A `copy` step on a local host: `pilote __copy DEST MODE SHA256` reads the artifact on
//! stdin and writes it to DEST as the account steps run as, the way the ssh copy does on a
//! remote host: into a part file beside DEST, checked against its digest, given its mode,
//! then renamed into place. A copy killed half-way leaves nothing under DEST; a resume
//! writes it again. DEST may already exist read-only (an earlier deploy's copy): the rename
//! replaces it.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The exit code of a copy whose bytes do not match the digest (as on a remote host).
pub const DIGEST_MISMATCH: i32 = 65;

/// Parses a copy's mode ("0644", "644", "0440").
pub fn parse_mode(text: &str) -> Option<u32> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !text.is_empty())
}

static INHERITED_UMASK: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0o022);

/// The umask this process was started with, before pilote made its own 077: a copy's
/// directories are created with it, so an app server's account can enter them.
pub fn inherit_umask(mask: u32) {
    INHERITED_UMASK.store(mask, std::sync::atomic::Ordering::Relaxed);
}

/// The `__copy` command: stdin to `dest`. Exits 65 on a digest mismatch.
pub fn receive(dest: &Path, mode: &str, sha256: &str) -> Result<(), String> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(
        INHERITED_UMASK.load(std::sync::atomic::Ordering::Relaxed) & 0o777,
    ));
    let mode = parse_mode(mode).ok_or_else(|| format!("`{mode}` is not an octal mode"))?;
    match write(dest, mode, sha256, &mut std::io::stdin().lock()) {
        Ok(()) => Ok(()),
        Err(Failure::Mismatch(found)) => {
            eprintln!("digest mismatch on the target: sent {sha256}, found {found}");
            std::process::exit(DIGEST_MISMATCH);
        }
        Err(Failure::Io(why)) => Err(why),
    }
}

enum Failure {
    Mismatch(String),
    Io(String),
}

fn write(dest: &Path, mode: u32, sha256: &str, input: &mut impl Read) -> Result<(), Failure> {
    let io = |what: String| move |e: std::io::Error| Failure::Io(format!("{what}: {e}"));
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let name = dest
        .file_name()
        .ok_or_else(|| Failure::Io(format!("{} names no file", dest.display())))?;
    let part = dir.join(format!(
        ".{}.pilote-part-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&part)
            .map_err(io(format!("cannot create {}", part.display())))?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = input
                .read(&mut buf)
                .map_err(io("cannot read the artifact".into()))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io(format!("cannot write {}", part.display())))?;
        }
        let found = hex::encode(hash.finalize());
        if found != sha256 {
            return Err(Failure::Mismatch(found));
        }
        out.sync_all()
            .map_err(io(format!("cannot write {}", part.display())))?;
        fs::set_permissions(&part, fs::Permissions::from_mode(mode))
            .map_err(io(format!("cannot set the mode of {}", part.display())))?;
        fs::rename(&part, dest).map_err(io(format!("cannot rename into {}", dest.display())))?;
        // The rename itself survives a crash once the directory is on disk.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn a_copy_replaces_a_read_only_one_and_takes_its_mode() {
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("deployments/pets.war");
        let v1 = b"war 1.3.0".to_vec();
        assert!(write(&dest, 0o444, &digest(&v1), &mut v1.as_slice()).is_ok());
        assert_eq!(fs::read(&dest).expect("read"), v1);
        let meta = fs::metadata(&dest).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o444);
        // The next deploy of a read-only file: the rename replaces it.
        let v2 = b"war 1.4.0".to_vec();
        assert!(write(&dest, 0o644, &digest(&v2), &mut v2.as_slice()).is_ok());
        assert_eq!(fs::read(&dest).expect("read"), v2);
        let meta = fs::metadata(&dest).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
        assert_eq!(
            fs::read_dir(dest.parent().expect("dir"))
                .expect("ls")
                .count(),
            1
        );
    }

    #[test]
    fn a_mismatch_leaves_the_old_copy_and_no_part_file() {
        let dir = tempfile::tempdir().expect("dir");
        let dest = dir.path().join("pets.war");
        fs::write(&dest, "old").expect("old");
        let bytes = b"new".to_vec();
        let r = write(&dest, 0o644, &digest(b"other"), &mut bytes.as_slice());
        assert!(matches!(r, Err(Failure::Mismatch(found)) if found == digest(b"new")));
        assert_eq!(fs::read(&dest).expect("read"), b"old");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0644"), Some(0o644));
        assert_eq!(parse_mode("440"), Some(0o440));
        for bad in ["", "0999", "rw-r--r--", "77777"] {
            assert_eq!(parse_mode(bad), None, "{bad}");
        }
    }
}
