//! Safe extraction of `.tar`, `.tar.gz`, `.tgz` and `.zip` packages: every path relative and inside
//! the target (no `..`, no absolute path), regular files and directories only (no links, so
//! nothing can point outside), and limits on the total size, the number of entries and the
//! compression ratio (an archive that expands like a bomb is refused, not filled in).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::ImportError;

/// What an archive may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    /// Files and directories: an empty directory costs a creation, a walk and a removal
    /// as a file does (200,000 of them fit in a small `.tgz`).
    pub max_entries: usize,
    /// Uncompressed bytes per compressed byte, checked once past 1 MiB.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 4 << 30,
            max_entries: 10_000,
            max_ratio: 200,
        }
    }
}

/// Whether `path` is an archive this module extracts.
pub fn is_archive(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".tar", ".tar.gz", ".tgz", ".zip"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Opens an archive that is a regular file itself, never through a link (a drop is
/// someone else's: a link could point at what only the sweeping account may read).
fn open_plain(archive: &Path) -> Result<fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(archive)
        .map_err(|e| format!("cannot read it (a link is not followed): {e}"))?;
    match f.metadata() {
        Ok(m) if m.is_file() => Ok(f),
        _ => Err("not a regular file".into()),
    }
}

/// The name without its archive extension (`pets-1.4.0.tar.gz` → `pets-1.4.0`).
pub fn stem(name: &str) -> &str {
    for ext in [".tar.gz", ".tgz", ".tar", ".zip"] {
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

/// Stops a decompressed stream as soon as it grows past the limits, while it is read: a
/// single huge entry, or a header the tar reader would hold whole in memory (a GNU long name
/// of hundreds of megabytes), never gets far.
struct Guard<R> {
    inner: R,
    out: Arc<AtomicU64>,
    /// Compressed bytes so far (or the archive's size on disk).
    packed: Arc<AtomicU64>,
    limits: Limits,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let out = self.out.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        // Headers come on top of the content: some slack before calling it too big.
        if out > self.limits.max_bytes + (64 << 20) {
            return Err(io::Error::other(format!(
                "expands to more than {} MiB",
                self.limits.max_bytes >> 20
            )));
        }
        let packed = self.packed.load(Ordering::Relaxed).max(1);
        if out > 1 << 20 && out / packed > self.limits.max_ratio {
            return Err(io::Error::other(format!(
                "expands more than {} times its compressed size (a decompression bomb?)",
                self.limits.max_ratio
            )));
        }
        Ok(n)
    }
}

/// A path for a message: long names (an attack, often) cut short.
fn short(path: &Path) -> String {
    let text = path.display().to_string();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// Why an archive holds too many entries.
fn too_many(limits: Limits) -> ImportError {
    ImportError::Refused(format!(
        "more than {} entries (files and directories)",
        limits.max_entries
    ))
}

/// Extracts `archive` into `into` (which must exist and be empty). On error, what was
/// extracted stays in `into` for the caller to remove: nothing is written outside it.
pub fn extract(archive: &Path, into: &Path, limits: Limits) -> Result<(), ImportError> {
    if archive.to_string_lossy().ends_with(".zip") {
        return extract_zip(archive, into, limits);
    }
    let file = open_plain(archive)?;
    let compressed = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: io::BufReader::new(file),
        read: compressed.clone(),
    };
    let gz = !archive.to_string_lossy().ends_with(".tar");
    let reader: Box<dyn Read> = if gz {
        Box::new(Guard {
            inner: flate2::read::GzDecoder::new(counting),
            out: Arc::new(AtomicU64::new(0)),
            packed: compressed.clone(),
            limits,
        })
    } else {
        Box::new(counting)
    };
    let mut tar = tar::Archive::new(reader);
    let mut total = 0u64;
    let mut count = 0usize;
    let entries = tar
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("cannot read it: {e}"))?;
        // Counted before anything is made of it: a directory as much as a file.
        count += 1;
        if count > limits.max_entries {
            return Err(too_many(limits));
        }
        let raw = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable name: {e}"))?
            .into_owned();
        let rel = safe_path(&raw)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(into.join(&rel))
                .map_err(|e| ImportError::io(format!("cannot create {}", rel.display()), &e))?;
            continue;
        }
        if !kind.is_file() {
            return Err(format!(
                "{}: only files and directories are accepted (this is a {:?}: links could point outside the package)",
                short(&raw),
                kind
            )
            .into());
        }
        total += write_file(
            &mut entry,
            into,
            &rel,
            limits.max_bytes.saturating_sub(total),
        )?;
        check_growth(
            total,
            gz.then(|| compressed.load(Ordering::Relaxed)),
            limits,
        )?;
    }
    Ok(())
}

/// Writes one entry to `into/rel` (a new file, 0600), at most `room` bytes: the bytes written,
/// or why not.
fn write_file(
    entry: &mut impl Read,
    into: &Path,
    rel: &Path,
    room: u64,
) -> Result<u64, ImportError> {
    let target = into.join(rel);
    if let Some(parent) = target.parent() {
        DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(parent)
            .map_err(|e| ImportError::io(format!("cannot create {}", parent.display()), &e))?;
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(|e| {
            ImportError::io(
                format!("{}: cannot write it (listed twice?)", rel.display()),
                &e,
            )
        })?;
    io::copy(&mut entry.take(room + 1), &mut out).map_err(|e| ImportError::io(rel.display(), &e))
}

/// The size and ratio limits, after `total` bytes out of `packed` compressed ones.
fn check_growth(total: u64, packed: Option<u64>, limits: Limits) -> Result<(), String> {
    if total > limits.max_bytes {
        return Err(format!(
            "expands to more than {} MiB",
            limits.max_bytes >> 20
        ));
    }
    if let Some(packed) = packed
        && total > 1 << 20
        && total / packed.max(1) > limits.max_ratio
    {
        return Err(format!(
            "expands more than {} times its compressed size (a decompression bomb?)",
            limits.max_ratio
        ));
    }
    Ok(())
}

/// `extract` for `.zip`: the same rules, entry by entry (the sizes in a zip's directory are
/// the archive's word, so the bytes are counted as they come out).
fn extract_zip(archive: &Path, into: &Path, limits: Limits) -> Result<(), ImportError> {
    let file = open_plain(archive)?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file))
        .map_err(|e| format!("not a zip archive: {e}"))?;
    // A zip's directory lists its directories as entries too.
    if zip.len() > limits.max_entries {
        return Err(too_many(limits));
    }
    let size = fs::metadata(archive).map_or(0, |m| m.len());
    let (out, packed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(size)));
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| format!("damaged archive: {e}"))?;
        let raw = PathBuf::from(
            entry
                .name()
                .map_err(|e| format!("an entry has an unreadable name: {e}"))?
                .into_owned(),
        );
        let rel = safe_path(&raw)?;
        if entry.is_symlink() || !(entry.is_dir() || entry.is_file()) {
            return Err(format!(
                "{}: only files and directories are accepted (links could point outside the package)",
                raw.display()
            )
            .into());
        }
        if entry.is_dir() {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(into.join(&rel))
                .map_err(|e| ImportError::io(format!("cannot create {}", rel.display()), &e))?;
            continue;
        }
        // Counted as the bytes come out: the sizes in a zip's directory are its own word.
        let mut guarded = Guard {
            inner: &mut entry,
            out: out.clone(),
            packed: packed.clone(),
            limits,
        };
        total += write_file(
            &mut guarded,
            into,
            &rel,
            limits.max_bytes.saturating_sub(total),
        )?;
        check_growth(total, None, limits)?;
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
                    short(path)
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "{}: an absolute path would write outside the package",
                    short(path)
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
            let e = extract(&path, &into, Limits::default())
                .expect_err(name)
                .to_string();
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
        let e = extract(&path, &into, Limits::default())
            .expect_err("refused")
            .to_string();
        assert!(e.contains("only files and directories are accepted"), "{e}");
    }

    fn zip(entries: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pkg.zip");
        let mut z = zip::ZipWriter::new(fs::File::create(&path).expect("create"));
        for (name, data) in entries {
            z.start_file(
                *name,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .expect("start");
            z.write_all(data).expect("write");
        }
        z.finish().expect("finish");
        (dir, path)
    }

    #[test]
    fn zips_follow_the_same_rules() {
        let (dir, path) = zip(&[("pets.war", b"war"), ("sql/1.sql", b"select 1;")]);
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        extract(&path, &into, Limits::default()).expect("extract");
        assert_eq!(
            fs::read(into.join("sql/1.sql")).expect("read"),
            b"select 1;"
        );

        let (dir, path) = zip(&[("../../evil.sh", b"boom")]);
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let e = extract(&path, &into, Limits::default())
            .expect_err("zip slip")
            .to_string();
        assert!(e.contains("`..` would write outside the package"), "{e}");

        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("link.zip");
        let mut z = zip::ZipWriter::new(fs::File::create(&path).expect("create"));
        z.add_symlink("etc", "/etc", zip::write::SimpleFileOptions::default())
            .expect("symlink");
        z.finish().expect("finish");
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let e = extract(&path, &into, Limits::default())
            .expect_err("symlink")
            .to_string();
        assert!(e.contains("only files and directories are accepted"), "{e}");

        let zeros = vec![0u8; 8 << 20];
        let (dir, path) = zip(&[("zeros", &zeros)]);
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let e = extract(&path, &into, Limits::default())
            .expect_err("bomb")
            .to_string();
        assert!(e.contains("a decompression bomb?"), "{e}");
    }

    #[test]
    fn a_huge_header_is_stopped_while_read() {
        // A GNU long name of 20 MB compresses to a few KB; the tar reader would hold it whole.
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("names.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(&path).expect("create"),
            flate2::Compression::best(),
        );
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_entry_type(tar::EntryType::Regular);
        let name = "a/".repeat(10 << 20);
        b.append_data(&mut h, format!("{name}x"), &b"x"[..])
            .expect("append");
        b.into_inner().expect("tar").finish().expect("gz");
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let e = extract(&path, &into, Limits::default())
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("a decompression bomb?"),
            "{}",
            &e[..e.len().min(300)]
        );
        assert!(
            e.len() < 500,
            "the message carries the name: {} bytes",
            e.len()
        );
    }

    #[test]
    fn directories_count_against_the_entries() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("dirs.tgz");
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(&path).expect("create"),
            flate2::Compression::best(),
        );
        let mut b = tar::Builder::new(gz);
        // One over the limit; the case was 200,000 in a small `.tgz`.
        for i in 0..10_001 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
            b.append_data(&mut h, format!("d{i}/"), io::empty())
                .expect("append");
        }
        b.into_inner().expect("tar").finish().expect("gz");
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let refused = extract(&path, &into, Limits::default()).expect_err("refused");
        assert!(
            matches!(&refused, ImportError::Refused(why) if why == "more than 10000 entries (files and directories)"),
            "{refused}"
        );
        // Refused at the first one over, not after making all of them.
        assert_eq!(fs::read_dir(&into).expect("ls").count(), 10_000);
    }

    #[test]
    fn a_decompression_bomb_is_stopped() {
        let zeros = vec![0u8; 8 << 20];
        let (dir, path) = tar_gz(&[("zeros", &zeros)]);
        let into = dir.path().join("out");
        fs::create_dir(&into).expect("mkdir");
        let e = extract(&path, &into, Limits::default())
            .expect_err("refused")
            .to_string();
        assert!(e.contains("a decompression bomb?"), "{e}");
        let small = Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        };
        let fresh = dir.path().join("out2");
        fs::create_dir(&fresh).expect("mkdir");
        let e = extract(&path, &fresh, small)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("expands to more than 1 MiB"), "{e}");
    }
}
