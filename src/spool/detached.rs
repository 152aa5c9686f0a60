//! Detached children of pilote: the runner and the notification deliverer outlive the
//! command that started them, so they leave its session and its terminal.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};

use crate::error::{Error, Result};

/// Starts `pilote --workspace CONFIG_DIR ARGS...` in its own session (no controlling terminal, so
/// no SIGHUP when the SSH connection drops), stdin and stdout on /dev/null (a prompt must
/// never reach the operator's tty), stderr appended to `stderr` (created 0600), which is
/// where a child that cannot even open the store says why. `what` names it in errors.
pub fn spawn_detached<I, S>(config_dir: &Path, what: &str, args: I, stderr: &Path) -> Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    if let Some(dir) = stderr.parent() {
        std::fs::create_dir_all(dir)
            .map_err(Error::io(format!("cannot create {}", dir.display())))?;
    }
    let err = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(stderr)
        .map_err(Error::io(format!("cannot create {}", stderr.display())))?;
    let exe = std::env::current_exe().map_err(Error::io("cannot find the pilote binary"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--workspace")
        .arg(config_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
        .map_err(Error::io(format!("cannot start the {what}")))
}
