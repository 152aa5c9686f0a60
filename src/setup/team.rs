//! `pilote setup-team`: a team's jump host in one step, as root, idempotent. What the Debian
//! package's postinst runs, and what an admin runs where pilote was built with cargo.
//!
//! It makes: the group whose members use pilote; the service account that owns the data dir
//! (the store, spool and vault, 0700) and runs runners; the executor account that runs every
//! step and holds the ssh keys; the drop dir members write releases into; the team's
//! workspace (root's, readable by all: no secret lives in it); the registration that ties
//! the service account to that workspace alone; and the sudoers drop-in (checked with
//! `visudo -c`) letting the group's members run pilote as the service account, and the
//! service account run the executor as the executor account. Each step says what it did.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::assets::DEFAULT_WORKSPACE;
use crate::error::{Error, Result};
use crate::identity;
use crate::settings::{self, SETTINGS_FILE, TEAMS_DIR};

/// What each step did, one line at a time, to whoever runs setup (the CLI prints them).
pub type Say<'a> = &'a mut dyn FnMut(String);

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        ($out)(format!($($arg)*))
    };
}

/// Where the sudoers drop-ins go; a file named with a dot would be ignored by sudo.
const SUDOERS_DIR: &str = "/etc/sudoers.d";

/// Where a copy of the binary goes when the one running is not root's alone.
const BIN_COPY: &str = "/usr/local/bin/pilote";

/// `pilote setup-team`'s options: the defaults are the Debian package's layout.
#[derive(Debug, Clone, clap::Args)]
pub struct SetupTeam {
    /// The team's config dir (root's; readable by all).
    #[arg(long, value_name = "DIR", default_value = "/etc/pilote")]
    pub config: PathBuf,
    /// The data dir: the store, spool and vault, the service account's alone (0700).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/pilote")]
    pub data: PathBuf,
    /// Where team members drop release packages for the vault.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/pilote-drop")]
    pub drop: PathBuf,
    /// The service account: owns the data dir, runs runners; never a person.
    #[arg(long, value_name = "NAME", default_value = "pilote")]
    pub service_account: String,
    /// The executor account: runs every step, holds the ssh keys to the targets.
    #[arg(long, value_name = "NAME", default_value = "pilote-run")]
    pub executor: String,
    /// The executor account's home (its ssh keys and known_hosts).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/pilote-run")]
    pub executor_home: PathBuf,
    /// The group whose members run pilote as the service account.
    #[arg(long, value_name = "NAME", default_value = "deployers")]
    pub group: String,
    /// The pilote binary sudo runs: must be root's alone (default: this one, or a copy in
    /// /usr/local/bin when this one is not).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// The workspace's name (it is shown in the console's header).
    #[arg(long, default_value = "team")]
    pub name: String,
}

pub fn setup(o: &SetupTeam, out: Say<'_>) -> Result<()> {
    if identity::euid() != 0 {
        return Err(Error::BadInput(
            "pilote setup-team creates accounts and writes /etc: run it as root (sudo pilote setup-team)"
                .into(),
        ));
    }
    for (what, name) in [
        ("--service-account", &o.service_account),
        ("--executor", &o.executor),
        ("--group", &o.group),
    ] {
        if !settings::is_account_name(name) {
            return Err(Error::BadInput(format!(
                "{what} {name:?}: not an account name (lowercase letters, digits, `_` or `-`, starting with a letter or `_`)"
            )));
        }
    }
    if o.service_account == o.executor {
        return Err(Error::BadInput(
            "the service account and the executor account must differ: steps never run as the account that owns the store".into(),
        ));
    }
    for dir in [&o.config, &o.data, &o.drop, &o.executor_home] {
        if !dir.is_absolute() {
            return Err(Error::BadInput(format!(
                "{}: give an absolute path",
                dir.display()
            )));
        }
    }
    let binary = binary(o, out)?;
    group(&o.group, out)?;
    account(
        &o.service_account,
        &o.data,
        "the team's service account: owns the store",
        out,
    )?;
    account(&o.executor, &o.executor_home, "runs pilote's steps", out)?;
    join(&o.service_account, &o.group, out)?;
    let svc = identity::account(&o.service_account)
        .ok_or_else(|| Error::BadInput(format!("account {} vanished", o.service_account)))?;
    let exec = identity::account(&o.executor)
        .ok_or_else(|| Error::BadInput(format!("account {} vanished", o.executor)))?;
    let (gid, _) = identity::group(&o.group)
        .ok_or_else(|| Error::BadInput(format!("group {} vanished", o.group)))?;
    dir(
        &o.data,
        svc.uid,
        svc.gid,
        0o700,
        "data dir (store, spool, vault)",
        out,
    )?;
    // Setgid: what members drop belongs to the group, so the service account reads it;
    // sticky: members cannot delete each other's drops.
    dir(
        &o.drop,
        svc.uid,
        gid,
        0o3770,
        "drop dir (members write releases here)",
        out,
    )?;
    dir(
        &o.executor_home,
        exec.uid,
        exec.gid,
        0o700,
        "executor home",
        out,
    )?;
    dir(
        &o.executor_home.join(".ssh"),
        exec.uid,
        exec.gid,
        0o700,
        "executor's ssh dir",
        out,
    )?;
    workspace(o, &binary, out)?;
    register(o, out)?;
    sudoers(o, &binary, out)?;
    say!(
        out,
        "\nnext: add each person to the group (`usermod -aG {} alice`; they log in again), put the \
         targets' ssh keys in {}/.ssh, edit {}/inventory.toml and lifecycles.toml, then as yourself: \
         `pilote config check`",
        o.group,
        o.executor_home.display(),
        o.config.display()
    );
    Ok(())
}

/// The binary sudo runs: root's alone (or whoever could write it would run as the team's
/// accounts). The one running, or a copy of it in /usr/local/bin.
fn binary(o: &SetupTeam, out: Say<'_>) -> Result<PathBuf> {
    let given = o.binary.is_some();
    let path = match &o.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(Error::io("cannot find the pilote binary"))?,
    };
    let path =
        fs::canonicalize(&path).map_err(Error::io(format!("cannot resolve {}", path.display())))?;
    match settings::admin_owned(&path) {
        Ok(()) => {
            say!(out, "binary: {}", path.display());
            Ok(path)
        }
        Err(why) if given => Err(Error::BadInput(format!(
            "--binary {}: {why}; sudo would run it as the team's accounts",
            path.display()
        ))),
        Err(why) => {
            let copy = Path::new(BIN_COPY);
            crate::fsutil::write_atomic_with(copy, Some(0o755), |f, _| {
                std::io::copy(&mut fs::File::open(&path)?, f).map(drop)
            })
            .map_err(Error::io(format!("cannot copy pilote to {BIN_COPY}")))?;
            say!(out, "binary: copied to {BIN_COPY} ({why})");
            Ok(copy.to_path_buf())
        }
    }
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(Error::io(format!("cannot run {program}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn group(name: &str, out: Say<'_>) -> Result<()> {
    if identity::group(name).is_some() {
        say!(out, "group {name}: there");
        return Ok(());
    }
    run("groupadd", &["--system", name])?;
    say!(out, "group {name}: created");
    Ok(())
}

fn account(name: &str, home: &Path, what: &str, out: Say<'_>) -> Result<()> {
    if let Some(a) = identity::account(name) {
        if a.home != home {
            say!(
                out,
                "warning: account {name} exists with home {}, not {}",
                a.home.display(),
                home.display()
            );
        }
        say!(out, "account {name} ({what}): there");
        return Ok(());
    }
    let home = home.to_string_lossy();
    run(
        "useradd",
        &[
            "--system",
            "--user-group",
            "--home-dir",
            &home,
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            // No `:` in a passwd field.
            "--comment",
            &format!("pilote {}", what.replace(':', " -")),
            name,
        ],
    )?;
    say!(out, "account {name} ({what}): created");
    Ok(())
}

/// The service account reads what members drop (files of the group).
fn join(account: &str, group: &str, out: Say<'_>) -> Result<()> {
    if identity::group(group).is_some_and(|(_, members)| members.iter().any(|m| m == account)) {
        return Ok(());
    }
    run("usermod", &["-aG", group, account])?;
    say!(
        out,
        "account {account}: added to group {group} (it reads the drops)"
    );
    Ok(())
}

fn dir(path: &Path, uid: u32, gid: u32, mode: u32, what: &str, out: Say<'_>) -> Result<()> {
    let existed = path.exists();
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::BadInput(format!(
            "{}: a symbolic link; give the directory itself",
            path.display()
        )));
    }
    fs::create_dir_all(path).map_err(Error::io(format!("cannot create {}", path.display())))?;
    rustix::fs::chown(
        path,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )
    .map_err(|e| Error::BadInput(format!("cannot chown {}: {e}", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(Error::io(format!("cannot chmod {}", path.display())))?;
    say!(
        out,
        "{what}: {} {} ({mode:04o})",
        path.display(),
        if existed { "there" } else { "created" }
    );
    Ok(())
}

/// The team's workspace: the shipped template with `[team]`, `[steps]` and `[vault]`, root's
/// and readable by all. An existing one is kept if it is this team's.
fn workspace(o: &SetupTeam, binary: &Path, out: Say<'_>) -> Result<()> {
    if o.config.join(SETTINGS_FILE).exists() {
        let Some(team) = settings::peek(&o.config) else {
            return Err(Error::BadInput(format!(
                "{} holds a workspace without [team]: it is not a team's; give another --config",
                o.config.display()
            )));
        };
        if team.service_account != o.service_account {
            return Err(Error::BadInput(format!(
                "{} is the workspace of service account {}, not {}",
                o.config.display(),
                team.service_account,
                o.service_account
            )));
        }
        settings::admin_owned(&o.config.join(SETTINGS_FILE)).map_err(Error::BadInput)?;
        say!(
            out,
            "workspace {}: there (kept as it is)",
            o.config.display()
        );
        return Ok(());
    }
    let q = |p: &Path| toml_string(&p.to_string_lossy());
    let files: Vec<(String, Vec<u8>)> = DEFAULT_WORKSPACE
        .iter()
        .map(|(path, bytes)| {
            let bytes = if *path == SETTINGS_FILE {
                let text = String::from_utf8_lossy(bytes).replace(
                    "name = \"default\"\n",
                    &format!("name = {}\ndata_dir = {}\n", toml_string(&o.name), q(&o.data)),
                );
                format!(
                    "{text}\n# Written by `pilote setup-team`: this workspace belongs to a team. People run\n\
                     # pilote as themselves; it goes through sudo to the service account.\n\
                     [team]\nservice_account = {}\ngroup = {}\nbinary = {}\n\n\
                     # Every step runs as this account, never as the one that owns the store.\n\
                     [steps]\nrun_as = {}\numask = \"022\"\n\n[vault]\ndrop_dir = {}\n",
                    toml_string(&o.service_account),
                    toml_string(&o.group),
                    q(binary),
                    toml_string(&o.executor),
                    q(&o.drop),
                )
                .into_bytes()
            } else {
                bytes.to_vec()
            };
            (path.to_string(), bytes)
        })
        .collect();
    super::write_atomically(&o.config, &files)?;
    readable_by_all(&o.config)?;
    say!(
        out,
        "workspace {}: created (root's, readable by all)",
        o.config.display()
    );
    Ok(())
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Root's, 0755 dirs and 0644 files (pilote's own umask made them private).
fn readable_by_all(dir: &Path) -> Result<()> {
    let set = |p: &Path, mode: u32| -> Result<()> {
        rustix::fs::chown(p, Some(rustix::fs::Uid::ROOT), Some(rustix::fs::Gid::ROOT))
            .map_err(|e| Error::BadInput(format!("cannot chown {}: {e}", p.display())))?;
        fs::set_permissions(p, fs::Permissions::from_mode(mode))
            .map_err(Error::io(format!("cannot chmod {}", p.display())))
    };
    set(dir, 0o755)?;
    for entry in fs::read_dir(dir).map_err(Error::io(format!("cannot read {}", dir.display())))? {
        let entry = entry.map_err(Error::io(format!("cannot read {}", dir.display())))?;
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            readable_by_all(&path)?;
        } else {
            set(&path, 0o644)?;
        }
    }
    Ok(())
}

/// `/etc/pilote-teams/<service account>.toml`: the one workspace the account serves.
fn register(o: &SetupTeam, out: Say<'_>) -> Result<()> {
    let dir = Path::new(TEAMS_DIR);
    fs::create_dir_all(dir).map_err(Error::io(format!("cannot create {}", dir.display())))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .map_err(Error::io(format!("cannot chmod {}", dir.display())))?;
    let path = dir.join(format!("{}.toml", o.service_account));
    let config = fs::canonicalize(&o.config).unwrap_or_else(|_| o.config.clone());
    let text = format!(
        "# Written by `pilote setup-team`: the workspace account {} serves, and no other.\nconfig = {}\n",
        o.service_account,
        toml_string(&config.to_string_lossy())
    );
    let same = fs::read_to_string(&path).is_ok_and(|t| t == text);
    if !same {
        write_root_file(&path, &text, 0o644)?;
    }
    say!(
        out,
        "registration {}: {}",
        path.display(),
        if same { "there" } else { "written" }
    );
    Ok(())
}

fn write_root_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    crate::fsutil::write_atomic(path, text.as_bytes(), Some(mode))
        .map_err(Error::io(format!("cannot write {}", path.display())))
}

/// `/etc/sudoers.d/pilote-<service account>`, checked by `visudo -c` before it is put in place.
fn sudoers(o: &SetupTeam, binary: &Path, out: Say<'_>) -> Result<()> {
    let bin = binary.to_string_lossy();
    if bin
        .chars()
        .any(|c| c.is_whitespace() || "\\,:=#\"".contains(c))
    {
        return Err(Error::BadInput(format!(
            "{bin}: a binary path sudoers cannot name as it is; install pilote in a plain path"
        )));
    }
    let text = format!(
        "# Written by `pilote setup-team`. Members of {group} run pilote as {svc}, which records\n\
         # who they are (SUDO_UID); {svc} runs pilote's executor as {exec}, the account of every\n\
         # step. Nothing else.\n\
         Defaults:%{group} !requiretty\n\
         Defaults:{svc} !requiretty\n\
         %{group} ALL=({svc}) NOPASSWD: {bin}\n\
         {svc} ALL=({exec}) NOPASSWD: {bin} __executor\n",
        group = o.group,
        svc = o.service_account,
        exec = o.executor,
    );
    let path = Path::new(SUDOERS_DIR).join(format!("pilote-{}", o.service_account));
    if fs::read_to_string(&path).is_ok_and(|t| t == text) {
        say!(out, "sudoers {}: there", path.display());
        return Ok(());
    }
    fs::create_dir_all(SUDOERS_DIR).map_err(Error::io(format!("cannot create {SUDOERS_DIR}")))?;
    // Checked before it counts, in sudoers.d itself (root's alone: nobody can swap it
    // between the check and the rename, as they could a file in /tmp); sudo skips names
    // with a dot, as the temporary file's is, so it is never read as a rule, and a broken
    // one never stops sudo for everyone. It has the mode sudo and `visudo -c` want, 0440,
    // whatever pilote's own umask (077).
    enum Put {
        Io(std::io::Error),
        Refused(String),
    }
    impl From<std::io::Error> for Put {
        fn from(e: std::io::Error) -> Self {
            Self::Io(e)
        }
    }
    let put = crate::fsutil::write_atomic_with(&path, Some(0o440), |f, part| {
        use std::io::Write as _;
        f.write_all(text.as_bytes())?;
        let checked = Command::new("visudo")
            .arg("-c")
            .arg("-q")
            .arg("-f")
            .arg(part)
            .output();
        match checked {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(Put::Refused(format!(
                "the sudoers drop-in does not pass `visudo -c`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
            Err(e) => Err(Put::Refused(format!(
                "cannot run visudo ({e}): a team's members reach pilote through sudo; install sudo"
            ))),
        }
    });
    match put {
        Ok(()) => {}
        Err(Put::Refused(why)) => return Err(Error::BadInput(why)),
        Err(Put::Io(e)) => return Err(Error::io(format!("cannot write {}", path.display()))(e)),
    }
    let meta = fs::metadata(&path).map_err(Error::io(format!("cannot read {}", path.display())))?;
    debug_assert_eq!(meta.uid(), 0);
    say!(out, "sudoers {}: written (visudo -c: ok)", path.display());
    Ok(())
}
