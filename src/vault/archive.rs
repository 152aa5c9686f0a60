//! Safe extraction of `.tar`, `.tar.gz` and `.tgz` packages: every path relative and inside
//! the target (no `..`, no absolute path), regular files and directories only (no links, so
//! nothing can point outside), and limits on the total size, the number of files and the
//! compression ratio (an archive that expands like a bomb is refused, not filled in).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What an archive may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_files: usize,
    /// Uncompressed bytes per compressed byte, checked once past 1 MiB.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 4 << 30,
            max_files: 10_000,
            max_ratio: 200,
        }
    }
}

/// Whether `path` is an archive this module extracts.
pub fn is_archive(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".tar") || name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// The name without its archive extension (`pets-1.4.0.tar.gz` → `pets-1.4.0`).
pub fn stem(name: &str) -> &str {
    for ext in [".tar.gz", ".tgz", ".tar"] {
        if let Some(s) = name.strip_suffix(ext) {
            return s;
        }
    }
    name
}

/// Counts the bytes read through it (the compressed side of a `.tar.gz`).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Extracts `archive` into `into` (which must exist and be empty). On error, what was
/// extracted stays in `into` for the caller to remove: nothing is written outside it.
pub fn extract(archive: &Path, into: &Path, limits: Limits) -> Result<(), String> {
    let file = fs::File::open(archive).map_err(|e| format!("cannot read it: {e}"))?;
    let compressed = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: io::BufReader::new(file),
        read: compressed.clone(),
    };
    let gz = !archive.to_string_lossy().ends_with(".tar");
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(counting))
    } else {
        Box::new(counting)
    };
    let mut tar = tar::Archive::new(reader);
    let mut total = 0u64;
    let mut files = 0usize;
    let entries = tar
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("damaged archive: {e}"))?;
        let raw = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable name: {e}"))?
            .into_owned();
        let rel = safe_path(&raw)?;
        let kind = entry.header().entry_type();
        let target = into.join(&rel);
        if kind.is_dir() {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(&target)
                .map_err(|e| format!("cannot create {}: {e}", rel.display()))?;
            continue;
        }
        if !kind.is_file() {
            return Err(format!(
                "{}: only files and directories are accepted (this is a {:?}: links could point outside the package)",
                raw.display(),
                kind
            ));
        }
        files += 1;
        if files > limits.max_files {
            return Err(format!("more than {} files", limits.max_files));
        }
        if let Some(parent) = target.parent() {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .map_err(|e| format!("{}: cannot write it (listed twice?): {e}", rel.display()))?;
        let room = limits.max_bytes.saturating_sub(total);
        let written = io::copy(&mut (&mut entry).take(room + 1), &mut out)
            .map_err(|e| format!("{}: {e}", rel.display()))?;
        total += written;
        if total > limits.max_bytes {
            return Err(format!(
                "expands to more than {} MiB",
                limits.max_bytes >> 20
            ));
        }
        let packed = compressed.load(Ordering::Relaxed).max(1);
        if gz && total > 1 << 20 && total / packed > limits.max_ratio {
            return Err(format!(
                "expands more than {} times its compressed size (a decompression bomb?)",
                limits.max_ratio
            ));
        }
    }
    Ok(())
}

/// `path` as a relative path of plain names, or why not.
fn safe_path(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "{}: `..` would write outside the package",
                    path.display()
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "{}: an absolute path would write outside the package",
                    path.display()
                ));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("an entry has an empty name".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pkg.tar.gz");
        let file = fs::File::create(&path).expect("create");
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        let mut b = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`: write the name bytes directly, as an attacker would.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz");
        (dir, path)
    }

    #[test]
    fn a_plain_archive_is_extracted() {
        let (dir, path) = tar_gz(&[("pets.war", b"war"), ("sql/1.sql", b"select 1;")]);
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        extract(&path, &into, Limits::default()).expect("extract");
        assert_eq!(
            fs::read(into.join("sql/1.sql")).expect("read"),
            b"select 1;"
        );
    }

    #[test]
    fn slips_out_of_the_package_are_refused() {
        for (name, why) in [
            ("../evil.sh", "`..` would write outside the package"),
            ("a/../../evil.sh", "`..` would write outside the package"),
            (
                "/etc/evil",
                "an absolute path would write outside the package",
            ),
        ] {
            let (dir, path) = tar_gz(&[(name, b"boom")]);
            let into = dir.path().join("out");
            fs::create_dir(&into).expect("mkdir");
            let e = extract(&path, &into, Limits::default()).expect_err(name);
            assert!(e.contains(why), "{name}: {e}");
            assert!(!dir.path().join("evil.sh").exists());
        }
    }

    #[test]
    fn a_symlink_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pkg.tar");
        let mut b = tar::Builder::new(fs::File::create(&path).expect("create"));
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", "/etc/passwd").expect("link");
        b.finish().expect("finish");
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let e = extract(&path, &into, Limits::default()).expect_err("refused");
        assert!(e.contains("only files and directories are accepted"), "{e}");
    }

    #[test]
    fn a_decompression_bomb_is_stopped() {
        let zeros = vec![0u8; 8 << 20];
        let (dir, path) = tar_gz(&[("zeros", &zeros)]);
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let e = extract(&path, &into, Limits::default()).expect_err("refused");
        assert!(e.contains("a decompression bomb?"), "{e}");
        let small = Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        };
        let fresh = dir.path().join("out2");
        fs::create_dir(&fresh).expect("mkdir");
        let e = extract(&path, &fresh, small).expect_err("refused");
        assert!(e.contains("expands to more than 1 MiB"), "{e}");
    }
}
