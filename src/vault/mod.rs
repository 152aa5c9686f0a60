//! The release vault: packages stored once, immutable, content-addressed.
//!
//! Each artifact is a read-only blob named by its SHA-256 under `<data>/vault/blobs/` (0700);
//! a package is a manifest (path, digest, size of each artifact) whose own digest names it.
//! A run of a package copies blobs, re-hashed before sending. A `--package DIR` run records
//! the same kind of manifest for the dir (see `manifest`).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::Artifact;

pub mod archive;
pub mod drop;
mod error;

pub use error::ImportError;

/// The vault of one workspace.
pub struct Vault {
    dir: PathBuf,
}

impl Vault {
    /// `<data dir>/vault`, created 0700 with its `blobs/` and `tmp/`.
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let dir = data_dir.join("vault");
        for d in [dir.clone(), dir.join("blobs"), dir.join("tmp")] {
            DirBuilder::new().mode(0o700).recursive(true).create(&d)?;
        }
        Ok(Self { dir })
    }

    /// Where the blob of a digest is.
    pub fn blob(&self, sha256: &str) -> PathBuf {
        self.dir.join("blobs").join(sha256)
    }

    /// Stores every file of `path` (a file, or a directory walked whole) as blobs, each hashed
    /// while it is copied (never loaded whole), and returns the manifest. Blobs already there
    /// are kept; nothing outside `blobs/` and `tmp/` is written.
    pub fn store(&self, path: &Path) -> io::Result<Vec<Artifact>> {
        let meta = fs::symlink_metadata(path)?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            list_files(path, path, &mut files)?;
            files
        } else if meta.is_file() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| io::Error::other("the file name is not UTF-8"))?;
            vec![(name.to_string(), path.to_path_buf(), Listed::of(&meta))]
        } else {
            return Err(io::Error::other(
                "not a regular file or a directory (symlinks are not imported)",
            ));
        };
        // A package's size has the archives' bound: a sparse file of 5 GiB costs its dropper
        // nothing and the vault 5 GiB for good.
        let total: u64 = files.iter().map(|(_, _, l)| l.size).sum();
        let max = archive::Limits::default().max_bytes;
        if total > max {
            return Err(io::Error::other(format!(
                "{total} bytes in all, more than the {max} a package may hold"
            )));
        }
        let mut out = Vec::new();
        for (rel, file, listed) in files {
            let (sha256, size) = self.store_blob(&file, listed)?;
            out.push(Artifact {
                path: rel,
                sha256,
                size: i64::try_from(size).unwrap_or(i64::MAX),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Copies one file into `tmp/` while hashing it, syncs it, then renames it to its digest.
    fn store_blob(&self, file: &Path, listed: Listed) -> io::Result<(String, u64)> {
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{}-{}", std::process::id(), unique()));
        let result = (|| {
            // No more than it was listed with: a file still growing is not a package yet.
            let mut src = open_listed(file, listed)?.take(listed.size.saturating_add(1));
            let mut dst = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut size = 0u64;
            loop {
                let n = src.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                dst.write_all(&buf[..n])?;
                size += n as u64;
            }
            if size != listed.size {
                return Err(io::Error::other(format!(
                    "{}: changed while it was read ({} bytes listed, {size} read)",
                    file.display(),
                    listed.size
                )));
            }
            dst.sync_all()?;
            let sha = hex::encode(h.finalize());
            let blob = self.blob(&sha);
            // A blob already there is kept only if it is intact: importing a good copy
            // repairs one altered on disk.
            if sha256_file(&blob).is_ok_and(|(existing, _)| existing == sha) {
                fs::remove_file(&tmp)?;
            } else {
                fs::set_permissions(&tmp, fs::Permissions::from_mode(0o400))?;
                fs::rename(&tmp, &blob)?;
            }
            Ok((sha, size))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Stores a directory, a file, or the content of a `.tar`/`.tar.gz` archive (extracted
    /// safely into `tmp/` first, then removed): the manifest, or why not.
    pub fn import(&self, path: &Path) -> Result<Vec<Artifact>, ImportError> {
        self.clean_tmp();
        let artifacts = if archive::is_archive(path) {
            let tmp = self
                .dir
                .join("tmp")
                .join(format!("x{}-{}", std::process::id(), unique()));
            DirBuilder::new()
                .mode(0o700)
                .create(&tmp)
                .map_err(|e| ImportError::io(format!("cannot create {}", tmp.display()), &e))?;
            let result = archive::extract(path, &tmp, archive::Limits::default())
                .and_then(|()| self.store(&tmp).map_err(|e| stored(&e)));
            let _ = fs::remove_dir_all(&tmp);
            result?
        } else {
            self.store(path).map_err(|e| stored(&e))?
        };
        if artifacts.is_empty() {
            return Err("it holds no file".to_string().into());
        }
        Ok(artifacts)
    }

    /// Removes what imports left in `tmp/` when they were killed (a blob half copied, an
    /// archive half extracted): each name starts with its importer's pid, and one whose
    /// process is gone is nobody's. A live importer's (another sweep's) is left alone.
    fn clean_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.dir.join("tmp")) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name();
            let pid = name
                .to_str()
                .map(|n| n.trim_start_matches('x'))
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw);
            let gone = pid.is_some_and(|p| {
                rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH)
            });
            if gone {
                let path = e.path();
                let _ = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
            }
        }
    }

    /// Re-hashes an artifact's blob: `Err` says what is wrong with it.
    pub fn check(&self, a: &Artifact) -> Result<(), String> {
        let blob = self.blob(&a.sha256);
        match sha256_file(&blob) {
            Ok((sha, _)) if sha == a.sha256 => Ok(()),
            Ok((sha, _)) => Err(format!(
                "{}: the blob was altered (recorded sha256 {}, found {sha})",
                a.path, a.sha256
            )),
            Err(e) => Err(format!("{}: cannot read {}: {e}", a.path, blob.display())),
        }
    }
}

/// A version as the vault accepts it: letters, digits, `.`, `_`, `-`, `+`; at most 64.
pub fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

/// The digest that names a package: SHA-256 of its manifest, one `sha256 size path` line per
/// artifact in path order (a text anyone can recompute with `sha256sum`).
pub fn package_digest(manifest: &[Artifact]) -> String {
    let mut h = Sha256::new();
    for a in manifest {
        h.update(format!("{} {} {}\n", a.sha256, a.size, a.path).as_bytes());
    }
    hex::encode(h.finalize())
}

/// An error of `Vault::store`: the disk full, or the package refused.
fn stored(e: &io::Error) -> ImportError {
    ImportError::of(e.to_string(), e)
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Regular files under `dir` as (relative `/`-path, path), refusing anything else.
/// A file as it was listed (never through a link): what it must still be when it is read.
#[derive(Debug, Clone, Copy)]
struct Listed {
    dev: u64,
    ino: u64,
    size: u64,
}

impl Listed {
    fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
        }
    }
}

/// Opens `path` for reading only if it is still the regular file that was listed: a drop is
/// someone else's (a team member's), and a part of it swapped for a link meanwhile must not
/// make the account that sweeps read its own files (the store) into the vault.
fn open_listed(path: &Path, listed: Listed) -> io::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let f = OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.dev() != listed.dev || meta.ino() != listed.ino {
        return Err(io::Error::other(format!(
            "{}: changed while it was read (replaced by a link or another file)",
            path.display()
        )));
    }
    Ok(f)
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, Listed)>) -> io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    // Walked by directory fd, never by path: a directory of the drop swapped for a link
    // while it is listed is refused, never followed (into the store's data dir).
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    walk(&fd, root, dir, out, &mut 0)
}

/// Lists the files under `dir` into `out`; `seen` counts the entries met so far,
/// directories too: a tree of empty directories costs as much to walk as one of files.
fn walk(
    fd: &std::os::fd::OwnedFd,
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf, Listed)>,
    seen: &mut usize,
) -> io::Result<()> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    let mut names: Vec<std::ffi::CString> = Vec::new();
    for e in rustix::fs::Dir::read_from(fd)? {
        let e = e?;
        let name = e.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    names.sort();
    for name in names {
        *seen += 1;
        if *seen > MAX_ENTRIES {
            return Err(io::Error::other(format!(
                "more than {MAX_ENTRIES} entries (files and directories) under {}",
                root.display()
            )));
        }
        let path = dir.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
        let stat = rustix::fs::statat(fd, &name, AtFlags::SYMLINK_NOFOLLOW)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => {
                let sub = rustix::fs::openat(
                    fd,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| {
                    io::Error::other(format!(
                        "{}: changed while it was listed ({e})",
                        path.display()
                    ))
                })?;
                walk(&sub, root, &path, out, seen)?;
            }
            FileType::RegularFile => {
                let rel = path
                    .strip_prefix(root)
                    .map_err(io::Error::other)?
                    .to_str()
                    .ok_or_else(|| {
                        io::Error::other(format!("{}: the name is not UTF-8", path.display()))
                    })?
                    .to_string();
                out.push((
                    rel,
                    path,
                    Listed {
                        dev: stat.st_dev,
                        ino: stat.st_ino,
                        size: u64::try_from(stat.st_size).unwrap_or(u64::MAX),
                    },
                ));
            }
            _ => {
                return Err(io::Error::other(format!(
                    "{}: not a regular file (symlinks are not packaged)",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Entries (files and directories) in a package at most, as in an archive: a runaway
/// directory (a home, `/`) is refused, not hashed.
const MAX_ENTRIES: usize = 10_000;

/// Every regular file under `dir` with its SHA-256 and size, sorted by path. Symlinks and
/// special files are refused: what is copied must be what was hashed.
pub fn manifest(dir: &Path) -> io::Result<Vec<Artifact>> {
    let mut files = Vec::new();
    list_files(dir, dir, &mut files)?;
    let mut out = Vec::new();
    for (rel, path, _) in files {
        let (sha256, size) = sha256_file(&path)?;
        out.push(Artifact {
            path: rel,
            sha256,
            size: i64::try_from(size).unwrap_or(i64::MAX),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The SHA-256 of a file, read in 64 KiB blocks (never loaded whole), and its size.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
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
    fn a_file_swapped_for_a_link_after_its_listing_is_not_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let drop = dir.path().join("pets-1.4.0");
        std::fs::create_dir_all(drop.join("sub")).expect("mkdir");
        std::fs::write(drop.join("sub/pets.war"), "war").expect("write");
        std::fs::write(dir.path().join("secret"), "the store").expect("write");
        let mut files = Vec::new();
        list_files(&drop, &drop, &mut files).expect("list");
        let (_, path, listed) = files.pop().expect("one file");
        assert!(open_listed(&path, listed).is_ok());
        // The dropper swaps a directory of her drop for a link to what she cannot read.
        std::fs::rename(drop.join("sub"), dir.path().join("old")).expect("mv");
        std::fs::create_dir(drop.join("sub")).expect("mkdir");
        std::os::unix::fs::symlink(dir.path().join("secret"), drop.join("sub/pets.war"))
            .expect("link");
        assert!(
            open_listed(&path, listed).is_err(),
            "a link is not followed"
        );
        std::fs::remove_file(drop.join("sub/pets.war")).expect("rm");
        std::fs::remove_dir(drop.join("sub")).expect("rmdir");
        std::os::unix::fs::symlink(dir.path(), drop.join("sub")).expect("link dir");
        std::fs::write(dir.path().join("pets.war"), "another file").expect("write");
        assert!(
            open_listed(&path, listed).is_err(),
            "another file is not read"
        );
    }

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
