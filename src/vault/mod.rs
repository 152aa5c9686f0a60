//! Packages and their digests. For now a package is a directory given with `--package`; its
//! manifest is taken when a run is created, and every copy is checked against it. The release
//! vault proper (content-addressed, immutable) builds on this.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::store::Artifact;

/// Files in a package at most: a runaway directory (a home, `/`) is refused, not hashed.
const MAX_FILES: usize = 10_000;

/// Every regular file under `dir` with its SHA-256 and size, sorted by path. Symlinks and
/// special files are refused: what is copied must be what was hashed.
pub fn manifest(dir: &Path) -> io::Result<Vec<Artifact>> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Artifact>) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        let kind = e.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            if out.len() >= MAX_FILES {
                return Err(io::Error::other(format!(
                    "more than {MAX_FILES} files under {}",
                    root.display()
                )));
            }
            let rel = path
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_str()
                .ok_or_else(|| {
                    io::Error::other(format!("{}: the name is not UTF-8", path.display()))
                })?
                .to_string();
            let (sha256, size) = sha256_file(&path)?;
            out.push(Artifact {
                path: rel,
                sha256,
                size: i64::try_from(size).unwrap_or(i64::MAX),
            });
        } else {
            return Err(io::Error::other(format!(
                "{}: not a regular file (symlinks are not packaged)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The SHA-256 of a file, read in 64 KiB blocks (never loaded whole), and its size.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_every_file_with_its_digest() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("sql")).expect("mkdir");
        std::fs::write(dir.path().join("app.war"), b"abc").expect("write");
        std::fs::write(dir.path().join("sql/1.sql"), b"").expect("write");
        let m = manifest(dir.path()).expect("manifest");
        assert_eq!(
            m,
            vec![
                Artifact {
                    path: "app.war".into(),
                    sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                        .into(),
                    size: 3
                },
                Artifact {
                    path: "sql/1.sql".into(),
                    sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                        .into(),
                    size: 0
                },
            ]
        );
    }

    #[test]
    fn a_symlink_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).expect("symlink");
        let e = manifest(dir.path()).expect_err("refused");
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
