//! Opening the store: file permissions, pragmas, migrations, ownership.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

use super::fault::Faults;
use super::migrations::{MIGRATIONS, SCHEMA_VERSION};

pub const DB_FILE: &str = "pilote.db";

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use data dir {}: {source}", .path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error(
        "{} is readable by group or others (mode {mode:04o}); it holds logs and audit data. Fix it with: chmod {fix:o} {}",
        .path.display(), .path.display()
    )]
    Permissions { path: PathBuf, mode: u32, fix: u32 },
    #[error(
        "refusing {}: it is owned by {owner} (uid {owner_uid}), not by {me}, who runs this pilote; a store someone else can write could hold forged requests and approvals. If it is yours: `chown -R {me} {}`; if it is a team's, run pilote as yourself and it goes through sudo to the team's account",
        .path.display(), .path.display()
    )]
    Foreign {
        path: PathBuf,
        owner: String,
        owner_uid: u32,
        me: String,
    },
    #[error(
        "refusing {}: it is a symbolic link (to {}); a data dir, its store, spool and vault must be the real thing, not a link someone could point elsewhere: set `data_dir` to the directory itself",
        .path.display(), .target.display()
    )]
    Symlink { path: PathBuf, target: PathBuf },
    #[error(
        "data dir {} belongs to the workspace at {owner}, not {}; give this workspace its own `data_dir` in pilote.toml",
        .data_dir.display(), .config_dir.display()
    )]
    ForeignWorkspace {
        data_dir: PathBuf,
        config_dir: PathBuf,
        owner: String,
    },
    #[error(
        "{} was written by a newer pilote (schema {found}, this binary knows up to {SCHEMA_VERSION}); upgrade pilote, the file was left untouched",
        .path.display()
    )]
    TooNew { path: PathBuf, found: usize },
    #[error(
        "{app} on {env} is locked by run #{run} ({by}, since {}); {}",
        crate::clock::format_ms(*.since),
        lock_hint(.app, .env, *.run, *.interrupted)
    )]
    Locked {
        app: String,
        env: String,
        run: i64,
        by: String,
        since: i64,
        /// The holder's runner is gone: it keeps the lock until someone recovers it.
        interrupted: bool,
    },
    #[error("database error in {}: {source}", .path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot migrate {}: {source}", .path.display())]
    Migration {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
}

/// What to do about a held lock: an interrupted run will not end by waiting, nor be cancelled.
fn lock_hint(app: &str, env: &str, run: i64, interrupted: bool) -> String {
    if interrupted {
        format!(
            "its runner is gone: resume it with `pilote resume {run}` (after `pilote mark-done {run}` if its unknown step did happen), or roll it back with `pilote rollback {app} --env {env}`"
        )
    } else {
        format!("wait for it, or cancel it with `pilote cancel {run}`")
    }
}

impl StoreError {
    /// Problems the person can fix in their files or dirs (exit 2) versus failed operations.
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            Self::Sqlite { .. } | Self::Migration { .. } | Self::Locked { .. }
        )
    }

    /// Whether the write failed for lack of disk space (SQLITE_FULL, or ENOSPC / EDQUOT on
    /// a file beside the store): nothing was written, and a retry needs room first.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Sqlite { source, .. } => {
                source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
            }
            Self::DataDir { source, .. } => is_no_space(source),
            _ => false,
        }
    }
}

/// ENOSPC or EDQUOT: the disk (or the user's quota) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.raw_os_error() == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

/// An open store: one connection, owned by one thread.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    /// The file's (device, inode) when it was opened; see [`Store::still_at_path`].
    file: Option<(u64, u64)>,
    /// Disk-full injection for tests (debug builds); inert unless a runner arms it.
    faults: Faults,
}

/// Counts shown by the workspace summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub schema_version: usize,
    pub requests_open: i64,
    pub runs_active: i64,
    pub locks: i64,
    pub audit_events: i64,
}

impl Store {
    /// Opens (creating if needed) the store of the workspace whose config dir is `config_dir`.
    pub fn open(
        data_dir: &Path,
        config_dir: &Path,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        ensure_private_dir(data_dir)?;
        check_layout(data_dir)?;
        // Processes opening a new store at once would race to create the schema: creation and
        // migration happen under an exclusive lock file, released when `_setup` is dropped.
        let lock_path = data_dir.join("pilote.lock");
        let _setup = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .and_then(|f| f.lock().map(|()| f))
            .map_err(dir_error(&lock_path))?;
        let path = data_dir.join(DB_FILE);
        ensure_private_file(&path)?;
        let mut conn = Connection::open(&path).map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        let sql_err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        // Pragmas are per connection and journal_mode is a no-op inside a transaction: set them
        // before migrating. FULL makes run and audit commits survive power loss, not just crashes.
        conn.busy_timeout(busy_timeout).map_err(sql_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err)?;
        // 16 MB of page cache (the default is 2): a dashboard reads the same windows of the
        // runs every few seconds.
        conn.pragma_update(None, "cache_size", -16_000)
            .map_err(sql_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_err)?;

        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql_err)?;
        let found = usize::try_from(found).unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path, found });
        }
        MIGRATIONS
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migration {
                path: path.clone(),
                source,
            })?;
        let file = file_id(&path);
        let mut store = Self {
            conn,
            path,
            file,
            faults: Faults::default(),
        };
        store.claim(data_dir, config_dir)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file at the store's path is still the one this connection reads. A
    /// connection keeps reading (and writing) a file deleted or replaced under it
    /// (`pilote demo --reset`, a restore from a backup), which no one else sees any more.
    pub fn still_at_path(&self) -> bool {
        file_id(&self.path) == self.file
    }

    /// Test hook, debug builds only: with `PILOTE_DISK_FULL_AT=<n>` (or
    /// `PILOTE_DISK_FULL_WHEN=<path>`), this store's n-th write from now on (or its first once
    /// `path` exists) and every one after it fail with SQLITE_FULL until [`Store::space_freed`]
    /// (see `store/fault.rs`). The runner arms it, so a test aims at the runner's writes only.
    pub fn inject_faults_from_env(&mut self) {
        self.faults = Faults::from_env();
    }

    /// Room was made on the store's disk (the runner deleted its spare file): for the
    /// fault-injection hook, the disk is not full any more.
    pub fn space_freed(&mut self) {
        self.faults.room_made();
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction: in WAL, a deferred transaction that later
    /// writes can fail with SQLITE_BUSY despite the busy timeout.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let path = &self.path;
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        self.faults.before_write().map_err(err)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let value = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(value)
    }

    /// Like [`Store::write`], but commits without waiting for the disk: for records of what
    /// already happened (a step's end, output lines, handled commands). They survive a crash
    /// of pilote at once (WAL) and a power loss once the next durable commit syncs the WAL
    /// behind them; the worst a power loss can do is make a finished step read as unknown,
    /// never make a started step read as not started (that commit stays durable).
    pub fn write_relaxed<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        // Cached statements: the runner does this several times per step.
        let set = |conn: &Connection, sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut s| s.execute([]))
                .map(drop)
        };
        set(&self.conn, "PRAGMA synchronous = NORMAL").map_err(|e| self.sql_error(e))?;
        let result = self.write(f);
        let restored = set(&self.conn, "PRAGMA synchronous = FULL").map_err(|e| self.sql_error(e));
        let value = result?;
        restored?;
        Ok(value)
    }

    /// Runs `f` with foreign key checks off (they cannot change inside a transaction).
    pub(crate) fn without_foreign_keys<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let set = |conn: &Connection, sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut s| s.execute([]))
                .map(drop)
        };
        set(&self.conn, "PRAGMA foreign_keys = OFF").map_err(|e| self.sql_error(e))?;
        let result = f(self);
        let restored = set(&self.conn, "PRAGMA foreign_keys = ON").map_err(|e| self.sql_error(e));
        let value = result?;
        restored?;
        Ok(value)
    }

    /// Every row of a query, mapped by `f`.
    pub(crate) fn rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| self.sql_error(e))?;
        let rows = stmt
            .query_map(params, f)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sql_error(e))
    }

    pub(crate) fn sql_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Records which workspace owns this data dir, and refuses another one: two workspaces
    /// with the same name would otherwise share requests, runs and locks unknowingly.
    fn claim(&mut self, data_dir: &Path, config_dir: &Path) -> Result<(), StoreError> {
        let config = fs::canonicalize(config_dir)
            .unwrap_or_else(|_| config_dir.to_path_buf())
            .display()
            .to_string();
        let now = crate::clock::now_ms();
        let owner = self.write(|tx| {
            let owner: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = 'config_dir'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if owner.is_none() {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('config_dir', ?1), ('created_at', ?2)",
                    params![config, now.to_string()],
                )?;
            }
            Ok(owner)
        })?;
        match owner {
            Some(owner) if owner != config => Err(StoreError::ForeignWorkspace {
                data_dir: data_dir.to_path_buf(),
                config_dir: config_dir.to_path_buf(),
                owner,
            }),
            _ => Ok(()),
        }
    }

    /// A short name for this store that no other store has: what the store records of its own
    /// creation (its config dir and time), hashed. Marks what pilote leaves in shared tools
    /// (a silence in an Alertmanager several jump hosts use), where run numbers alone clash.
    pub fn identity(&self) -> Result<String, StoreError> {
        use sha2::{Digest, Sha256};
        let facts: Vec<String> = self.rows(
            "SELECT key || '=' || value FROM meta WHERE key IN ('config_dir', 'created_at') ORDER BY key",
            [],
            |r| r.get(0),
        )?;
        let digest = Sha256::digest(facts.join("\n").as_bytes());
        Ok(hex::encode(&digest[..4]))
    }

    /// SQLite's own check of the file (`PRAGMA integrity_check`): `["ok"]`, or the problems
    /// it found.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.rows("PRAGMA integrity_check", [], |r| r.get(0))
    }

    /// Counts for the workspace summary.
    pub fn summary(&self) -> Result<Summary, StoreError> {
        let count = |sql: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.sql_error(e))
        };
        Ok(Summary {
            schema_version: usize::try_from(
                self.conn
                    .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                    .map_err(|e| self.sql_error(e))?,
            )
            .unwrap_or(0),
            requests_open: count(
                "SELECT count(*) FROM requests WHERE state NOT IN ('closed', 'cancelled', 'rejected')",
            )?,
            runs_active: count(
                "SELECT count(*) FROM runs WHERE state IN ('pending', 'running', 'waiting')",
            )?,
            locks: count("SELECT count(*) FROM locks")?,
            audit_events: count("SELECT count(*) FROM audit_events")?,
        })
    }
}

/// (device, inode) of the file at `path`, if there is one.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn dir_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

/// What a data dir holds that pilote trusts: each must be owned by whoever runs this pilote
/// and be no symbolic link, root included (root would otherwise read a store another user
/// swapped in, and show her forged requests as real).
const TRUSTED: &[&str] = &[
    "",
    DB_FILE,
    "pilote.db-wal",
    "pilote.db-shm",
    "pilote.lock",
    "spool",
    "vault",
    "vault/blobs",
    "vault/tmp",
];

/// Checks the data dir and what it holds (see [`TRUSTED`]); what does not exist yet is
/// created by this account later.
pub fn check_layout(data_dir: &Path) -> Result<(), StoreError> {
    let me = crate::identity::euid();
    for rel in TRUSTED {
        let path = if rel.is_empty() {
            data_dir.to_path_buf()
        } else {
            data_dir.join(rel)
        };
        check_owned(&path, me)?;
    }
    Ok(())
}

/// `path` (if it exists) is no symbolic link and belongs to uid `me`.
pub fn check_owned(path: &Path, me: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(dir_error(path)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(StoreError::Symlink {
            path: path.to_path_buf(),
            target: fs::read_link(path).unwrap_or_default(),
        });
    }
    if meta.uid() != me {
        let name = |uid| crate::identity::user_name(uid).unwrap_or_else(|| format!("uid{uid}"));
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
            owner: name(meta.uid()),
            owner_uid: meta.uid(),
            me: name(me),
        });
    }
    Ok(())
}

/// Creates the data dir 0700, or checks that an existing one is private.
fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(dir_error(dir))?;
    let meta = fs::metadata(dir).map_err(dir_error(dir))?;
    if !meta.is_dir() {
        return Err(StoreError::DataDir {
            path: dir.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    check_private(dir, meta.permissions().mode(), 0o700)
}

/// Creates the DB file 0600 before SQLite opens it (its `-wal` and `-shm` inherit the mode),
/// or checks that the existing files are private.
fn ensure_private_file(path: &Path) -> Result<(), StoreError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", path.display()));
                match fs::metadata(&p) {
                    Ok(meta) => check_private(&p, meta.permissions().mode(), 0o600)?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(dir_error(&p)(e)),
                }
            }
            Ok(())
        }
        Err(e) => Err(dir_error(path.parent().unwrap_or(path))(e)),
    }
}

fn check_private(path: &Path, mode: u32, fix: u32) -> Result<(), StoreError> {
    if mode & 0o077 != 0 {
        return Err(StoreError::Permissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
            fix,
        });
    }
    Ok(())
}
