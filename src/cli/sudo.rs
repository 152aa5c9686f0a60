//! A team's workspace is reached through sudo: a person types `pilote ...` as themselves,
//! and pilote runs itself again as the team's service account (`sudo -n -u pilote`), which
//! records the person from sudo's word (`SUDO_UID`).
//!
//! The other side holds: a process running as a registered service account (see
//! `settings::registration`) uses that team's workspace and nothing of its caller's, so the
//! sudo rule every team member has cannot run a config of their own as the account.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use super::args::{Cli, Command, PlanCommand, RequestCommand};
use crate::error::{Error, Result};
use crate::identity;
use crate::settings::{self, Located, Origin};

/// The system's team workspace: the default for the members of its group.
pub const SYSTEM_WORKSPACE: &str = "/etc/pilote";

/// Where a command runs.
pub(super) enum Route {
    /// In this process, on this workspace.
    Here(Located),
    /// Again, through sudo, as the team's service account.
    Sudo(Reexec),
}

pub(super) struct Reexec {
    account: String,
    binary: PathBuf,
    args: Vec<OsString>,
    /// Files the person named, read with their rights, for the other side.
    handed: Vec<(String, Vec<u8>)>,
    group: String,
}

/// Decides where `cli` runs. `argv` is the command line as typed.
pub(super) fn route(cli: &Cli, mut located: Located, argv: &[OsString]) -> Result<Route> {
    let me = identity::euid();
    let my_name = identity::user_name(me).unwrap_or_else(|| format!("uid{me}"));
    if let Some(reg) = settings::registration(&my_name).map_err(Error::BadInput)? {
        return as_service_account(cli, located, &my_name, &reg).map(Route::Here);
    }
    // The executor and a copy do a step's work as whoever runs them (the executor account):
    // they take no workspace, and never go through sudo again.
    if matches!(cli.command, Some(Command::Executor | Command::Copy { .. })) {
        return Ok(Route::Here(located));
    }
    // Without a workspace named, the machine's team workspace is the one people mean; the
    // demo and `init` are a person's own.
    let own = matches!(
        cli.command,
        Some(Command::Demo { .. } | Command::Init { .. } | Command::SetupTeam(_))
    );
    if located.origin == Origin::Default && !own && member_of_system_team() {
        located = Located {
            dir: PathBuf::from(SYSTEM_WORKSPACE),
            origin: Origin::Default,
        };
    }
    let Some(team) = settings::peek(&located.dir) else {
        return Ok(Route::Here(located));
    };
    if own
        || matches!(
            cli.command,
            Some(Command::Completions { .. } | Command::Man { .. })
        )
    {
        return Ok(Route::Here(located));
    }
    if identity::account(&team.service_account).is_none() {
        return Err(Error::BadInput(format!(
            "the workspace at {} is a team's, served by account `{}`, which does not exist on this machine: an admin sets it up with `pilote setup-team`",
            located.dir.display(),
            team.service_account
        )));
    }
    let dir = std::fs::canonicalize(&located.dir).map_err(Error::io(format!(
        "cannot resolve {}",
        located.dir.display()
    )))?;
    let handed = handed_files(cli)?;
    let mut args: Vec<OsString> = argv.iter().skip(1).cloned().collect();
    // The person's own `-w` is the team's workspace, resolved; without one, it is given.
    match (&cli.workspace, located.origin) {
        (Some(given), Origin::Flag) => {
            args = with_workspace(args, given.as_os_str(), dir.as_os_str()).ok_or_else(|| {
                Error::BadInput(format!(
                    "write the workspace on its own (`-w {}`): it goes through sudo as the team's",
                    given.display()
                ))
            })?;
        }
        _ => args
            .splice(0..0, ["--workspace".into(), dir.into_os_string()])
            .for_each(drop),
    }
    // Each plan file handed over is named by its full path: unambiguous in the request,
    // never mistaken for one of the team's plans of the same relative name.
    for (given, full, _) in &handed {
        if let Some(a) = args.iter_mut().find(|a| a.as_os_str() == given.as_str()) {
            *a = full.into();
        }
    }
    if !handed.is_empty() {
        args.insert(0, "--handover".into());
    }
    let handed = handed
        .into_iter()
        .map(|(_, full, bytes)| (full, bytes))
        .collect();
    Ok(Route::Sudo(Reexec {
        account: team.service_account,
        binary: team.binary,
        args,
        handed,
        group: team.group,
    }))
}

/// Whether this machine has a team workspace and this process's user is of its group: its
/// members mean it when they name no workspace; anyone else (root, someone outside the
/// team) keeps their own default.
fn member_of_system_team() -> bool {
    let Some(team) = settings::peek(Path::new(SYSTEM_WORKSPACE)) else {
        return false;
    };
    let Some((gid, _)) = identity::group(&team.group) else {
        return false;
    };
    let gid = rustix::process::Gid::from_raw(gid);
    rustix::process::getegid() == gid
        || rustix::process::getgroups().is_ok_and(|groups| groups.contains(&gid))
}

/// A registered service account: its own team's workspace, and none of the caller's knobs.
fn as_service_account(
    cli: &Cli,
    located: Located,
    me: &str,
    reg: &settings::Registration,
) -> Result<Located> {
    let refuse = |what: String| {
        Error::BadInput(format!(
            "{me} is the service account of the team workspace at {}: {what}",
            reg.config.display()
        ))
    };
    if matches!(
        cli.command,
        Some(
            Command::Demo { .. }
                | Command::Init { .. }
                | Command::SetupTeam(_)
                | Command::Man { .. }
        )
    ) {
        return Err(refuse(
            "it keeps no workspace or files of its own; run this as yourself".into(),
        ));
    }
    // The executor and the copy run steps' work: as this account, which owns the store,
    // they would let whoever can reach it through sudo run anything as it, or write the
    // store (`__copy /var/lib/pilote/pilote.db`).
    if matches!(cli.command, Some(Command::Executor | Command::Copy { .. })) {
        return Err(refuse(
            "it never runs steps nor their copies: they run as the executor account".into(),
        ));
    }
    // The runner and the deliverer are started by pilote itself, never by a person through
    // sudo.
    if matches!(cli.command, Some(Command::Runner { .. } | Command::Notify))
        && identity::started_by_sudo()
    {
        return Err(refuse(
            "its runners and deliverer are started by pilote, not through sudo".into(),
        ));
    }
    for var in [
        "PILOTE_WORKSPACE",
        "PILOTE_DATA_DIR",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
    ] {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            return Err(refuse(format!(
                "{var} is set, and it takes no workspace, data dir or XDG dir from its caller; unset it"
            )));
        }
    }
    if located.origin == Origin::Flag {
        let asked = std::fs::canonicalize(&located.dir).unwrap_or(located.dir.clone());
        let served = std::fs::canonicalize(&reg.config).unwrap_or(reg.config.clone());
        if asked != served {
            return Err(refuse(format!(
                "--workspace {} is not it, and it serves no other",
                located.dir.display()
            )));
        }
    }
    // Nothing is read relative to the caller's current dir: it is the person's.
    let _ = std::env::set_current_dir("/");
    Ok(Located {
        dir: reg.config.clone(),
        origin: Origin::Flag,
    })
}

/// The plan files a command names that the person can read: (as typed, full path, bytes).
fn handed_files(cli: &Cli) -> Result<Vec<(String, String, Vec<u8>)>> {
    let named: Vec<&Path> = match &cli.command {
        Some(Command::Run { file, .. }) => vec![file],
        Some(Command::Plan {
            command: PlanCommand::Check { file, .. } | PlanCommand::Show { file, .. },
        }) => vec![file],
        Some(Command::Request {
            command: RequestCommand::New { plan, .. } | RequestCommand::Replan { plan, .. },
        }) => vec![plan],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for path in named {
        // A path the person cannot see as a file is left for the other side to look up
        // among the team's plans.
        if !path.is_file() {
            continue;
        }
        let bytes =
            std::fs::read(path).map_err(Error::io(format!("cannot read {}", path.display())))?;
        let full = std::fs::canonicalize(path)
            .map_err(Error::io(format!("cannot resolve {}", path.display())))?;
        out.push((
            path.to_string_lossy().into_owned(),
            full.to_string_lossy().into_owned(),
            bytes,
        ));
    }
    Ok(out)
}

/// `args` with the person's `-w GIVEN` (in any of its forms: `-w DIR`, `--workspace DIR`,
/// `-wDIR`, `--workspace=DIR`) replaced by `--workspace FULL`; `None` if it is not there on
/// its own (inside a bundle of short flags). Only that occurrence is touched: a value
/// elsewhere that starts with `-w` is someone's title, not a flag.
fn with_workspace(
    args: Vec<OsString>,
    given: &std::ffi::OsStr,
    full: &std::ffi::OsStr,
) -> Option<Vec<OsString>> {
    let given = given.to_string_lossy();
    let joined = [
        format!("-w{given}"),
        format!("-w={given}"),
        format!("--workspace={given}"),
    ];
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut done = false;
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        let text = a.to_string_lossy().into_owned();
        if !done && text == "--" {
            return None;
        }
        if !done
            && (text == "-w" || text == "--workspace")
            && it.peek().is_some_and(|v| v.to_string_lossy() == given)
        {
            it.next();
            out.extend(["--workspace".into(), full.to_os_string()]);
            done = true;
        } else if !done && joined.contains(&text) {
            out.extend(["--workspace".into(), full.to_os_string()]);
            done = true;
        } else {
            out.push(a);
        }
    }
    done.then_some(out)
}

/// Runs the command again through sudo and returns its exit code. Waits rather than
/// `exec`s, to say in one line which sudo rule is missing when sudo refuses.
pub(super) fn reexec(r: Reexec) -> u8 {
    let mut cmd = Process::new("sudo");
    cmd.arg("-n")
        .arg("-u")
        .arg(&r.account)
        .arg("--")
        .arg(&r.binary)
        .args(&r.args);
    if !r.handed.is_empty() {
        cmd.stdin(Stdio::piped());
    }
    // The terminal's signals reach sudo, which passes them on; this process only waits.
    ignore_terminal_signals();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            errln!(
                "error: cannot run sudo ({e}): the team's workspace is reached through sudo as `{}`; install sudo",
                r.account
            );
            return 2;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&settings::handover::encode(&r.handed));
    }
    let code = match child.wait() {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code()
                .or_else(|| s.signal().map(|sig| 128 + sig))
                .unwrap_or(1)
        }
        Err(_) => 1,
    };
    if code == 1 && !allowed(&r) {
        let me = identity::user_name(identity::euid()).unwrap_or_default();
        errln!(
            "error: no sudo rule lets {me} run {} as `{}`: the team's members are the group `{}` (an admin adds you with `usermod -aG {} {me}`; log in again after)",
            r.binary.display(),
            r.account,
            r.group,
            r.group
        );
    }
    u8::try_from(code).unwrap_or(1)
}

/// Whether sudo would run the binary as the account without a password.
fn allowed(r: &Reexec) -> bool {
    Process::new("sudo")
        .args(["-n", "-l", "-u", &r.account, "--"])
        .arg(&r.binary)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ignore_terminal_signals() {
    for sig in [libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: SIG_IGN installs no handler code; this process only waits for sudo now.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_flag_is_replaced_in_every_form_and_nothing_else() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let full = std::ffi::OsStr::new("/etc/team");
        for typed in [
            vec!["-w", "t", "request", "show", "1"],
            vec!["request", "--workspace", "t", "show", "1"],
            vec!["-wt", "request", "show", "1"],
            vec!["request", "show", "--workspace=t", "1"],
        ] {
            let out = with_workspace(args(&typed), std::ffi::OsStr::new("t"), full).expect("found");
            let text: Vec<String> = out
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(
                text.windows(2).any(|w| w == ["--workspace", "/etc/team"]),
                "{text:?}"
            );
            assert_eq!(text.len(), 5, "{text:?}");
        }
        // A title that starts with -w is a title.
        let out = with_workspace(
            args(&["-w", "t", "request", "new", "--title", "-wow"]),
            std::ffi::OsStr::new("t"),
            full,
        )
        .expect("found");
        assert_eq!(
            out.last()
                .map(|a| a.to_string_lossy().into_owned())
                .as_deref(),
            Some("-wow")
        );
        // Bundled short flags are not taken apart: refused rather than guessed.
        assert!(
            with_workspace(
                args(&["-fwt", "logs", "1"]),
                std::ffi::OsStr::new("t"),
                full
            )
            .is_none()
        );
    }
}
