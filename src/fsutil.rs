//! Writing a file whole or not at all: the one way pilote replaces a file (a plan saved from
//! the console, an imported inventory, the disk spare, a root file of `setup-team`).
//!
//! The bytes go to a temporary file beside the target, under a name no other writer uses
//! (two consoles saving one plan must not rename each other's half-written file), are synced,
//! given the target's mode, renamed over it, and the directory is synced so the rename
//! survives a crash. A reader sees the old file or the new one, never a mix or nothing.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

static INHERITED_UMASK: AtomicU32 = AtomicU32::new(0o022);

/// Records the umask this process was started with, before pilote made its own 077 (see
/// `main`): a file pilote creates for a person (a new plan) and a step's copy use it.
pub fn inherit_umask(mask: u32) {
    INHERITED_UMASK.store(mask & 0o777, Ordering::Relaxed);
}

/// The umask this process was started with (0o022 until `inherit_umask` says otherwise).
pub fn inherited_umask() -> u32 {
    INHERITED_UMASK.load(Ordering::Relaxed)
}

/// Replaces `path` by `bytes`, whole or not at all. `mode` is the file's mode; `None`
/// keeps the mode `path` has, or gives a new file 0o666 less the umask pilote was started
/// with (what an editor would), not pilote's own 077.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    write_atomic_with(path, mode, |f, _| f.write_all(bytes))
}

/// As `write_atomic`, the content written by `fill` into the temporary file (at the path it
/// is given, already with its final mode): an error from it (a digest that does not match, a
/// check of the file that fails) leaves `path` as it was and the temporary file removed.
pub fn write_atomic_with<E: From<io::Error>>(
    path: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mode = match mode {
        Some(m) => m,
        None => match fs::metadata(path) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0o666 & !inherited_umask(),
            Err(e) => return Err(e.into()),
        },
    };
    let (tmp, mut file) = create_beside(dir, path)?;
    let result = (|| {
        // open's mode went through pilote's umask: the mode is set as asked.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        fill(&mut file, &tmp)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Best effort: the file is in place already, and saying it failed would be wrong;
        // a directory that cannot be opened for reading (mode 0311) is rare.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A new, empty temporary file in `dir` for replacing `target`: a hidden name made of the
/// target's, this process's id, a counter and a random part, created exclusively (never an
/// existing file, nor through a symbolic link planted under that name).
fn create_beside(dir: &Path, target: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    loop {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let tmp = dir.join(format!(
            ".{name}.{}-{}-{random:016x}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("meta").permissions().mode() & 0o7777
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("read")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn the_mode_is_kept_or_given_and_nothing_is_left_beside() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("plan.toml");
        fs::write(&path, "old").expect("write");
        // Not what a umask would give: kept because it is the file's.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        write_atomic(&path, b"new", None).expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(mode(&path), 0o640);
        write_atomic(&path, b"newer", Some(0o444)).expect("write");
        assert_eq!(mode(&path), 0o444);
        // A new file: 0666 less the inherited umask (0o022 in tests).
        let fresh = dir.path().join("fresh.toml");
        write_atomic(&fresh, b"x", None).expect("write");
        assert_eq!(mode(&fresh), 0o644);
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_fill_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sudoers");
        fs::write(&path, "good").expect("write");
        let failed: io::Result<()> = write_atomic_with(&path, Some(0o440), |f, tmp| {
            f.write_all(b"bad")?;
            assert_eq!(mode(tmp), 0o440, "checked with its final mode");
            Err(io::Error::other("visudo says no"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(&path).expect("read"), "good");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn writers_of_one_file_never_collide() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("plan.toml");
        fs::write(&path, "0").expect("write");
        std::thread::scope(|s| {
            for w in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for i in 0..50 {
                        let text = format!("writer {w} save {i}\n").repeat(100);
                        write_atomic(path, text.as_bytes(), None).expect("no collision");
                    }
                });
            }
        });
        // One writer's whole text, never a mix.
        let text = fs::read_to_string(&path).expect("read");
        let first = text.lines().next().expect("a line");
        assert!(text.lines().all(|l| l == first), "{text}");
        assert!(leftovers(dir.path()).is_empty());
    }
}
