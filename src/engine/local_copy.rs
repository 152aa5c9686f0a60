//! A `copy` step on a local host: `pilote __copy DEST MODE SHA256` reads the artifact on
//! stdin and writes it to DEST as the account steps run as, the way the ssh copy does on a
//! remote host: into a part file beside DEST, checked against its digest, given its mode,
//! then renamed into place. A copy killed half-way leaves nothing under DEST; a resume
//! writes it again. DEST may already exist read-only (an earlier deploy's copy): the rename
//! replaces it.

use std::fs;
use std::io::{Read, Write};
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

/// The `__copy` command: stdin to `dest`. Exits 65 on a digest mismatch. The umask is the
/// one this process was started with (the step's), not pilote's 077: a copy's directories
/// are created with it, so an app server's account can enter them.
pub fn receive(dest: &Path, mode: &str, sha256: &str) -> Result<(), String> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(
        crate::fsutil::inherited_umask(),
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

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

fn write(dest: &Path, mode: u32, sha256: &str, input: &mut impl Read) -> Result<(), Failure> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)
        .map_err(|e| Failure::Io(format!("cannot create {}: {e}", dir.display())))?;
    if dest.file_name().is_none() {
        return Err(Failure::Io(format!("{} names no file", dest.display())));
    }
    crate::fsutil::write_atomic_with(dest, Some(mode), |out, _| {
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|e| Failure::Io(format!("cannot read the artifact: {e}")))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        let found = hex::encode(hash.finalize());
        if found != sha256 {
            return Err(Failure::Mismatch(found));
        }
        Ok(())
    })
    .map_err(|f| match f {
        Failure::Io(why) => Failure::Io(format!("cannot write {}: {why}", dest.display())),
        mismatch => mismatch,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

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
