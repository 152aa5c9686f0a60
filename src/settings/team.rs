//! `[team]` and `[steps]`: who owns a team's workspace, who people reach it through, and the
//! account steps run as.
//!
//! A team workspace (written by `pilote setup-team`) is owned by a service account; each
//! person types `pilote ...` as themselves and pilote re-executes itself through sudo as that
//! account. Steps never run as the account that owns the store: they run as `run_as`, the
//! executor account, which cannot read or write the store.

use std::path::{Path, PathBuf};

use super::files::{StepsSection, TeamSection};
use super::read::at_line;
use crate::core::diagnostic::{Diagnostic, Diagnostics};

/// The umask steps run with when `[steps] umask` is unset: files a deploy writes are readable
/// by the application server's account.
pub const DEFAULT_STEP_UMASK: u32 = 0o022;

/// `[team]` checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Team {
    pub service_account: String,
    pub group: String,
    pub binary: PathBuf,
}

/// `[steps]` with its defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Steps {
    /// The executor account; `None`: steps run as the runner's own account (a personal
    /// workspace).
    pub run_as: Option<String>,
    pub umask: u32,
}

impl Default for Steps {
    fn default() -> Self {
        Self {
            run_as: None,
            umask: DEFAULT_STEP_UMASK,
        }
    }
}

/// A Unix account or group name as `useradd` takes it: lowercase letters, digits, `_` and
/// `-`, starting with a letter or `_`, at most 32 characters.
pub fn is_account_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

pub(super) fn check(
    team: Option<&TeamSection>,
    steps: &StepsSection,
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) -> (Option<Team>, Steps) {
    let account = |v: &toml::Spanned<String>, what: &str, diags: &mut Diagnostics| {
        if !is_account_name(v.get_ref()) {
            diags.push(
                at_line(Diagnostic::at(
                    path,
                    src,
                    v.span(),
                    format!("`{}` is not a valid {what} name", v.get_ref()),
                ))
                .expected("lowercase letters, digits, `_` or `-`, starting with a letter or `_`, at most 32"),
            );
        }
    };
    let team = team.map(|t| {
        account(&t.service_account, "account", diags);
        account(&t.group, "group", diags);
        if !t.binary.get_ref().is_absolute() {
            diags.push(
                at_line(Diagnostic::at(
                    path,
                    src,
                    t.binary.span(),
                    "`binary` is not an absolute path",
                ))
                .expected("the absolute path of the pilote binary the sudoers drop-in names"),
            );
        }
        Team {
            service_account: t.service_account.get_ref().clone(),
            group: t.group.get_ref().clone(),
            binary: t.binary.get_ref().clone(),
        }
    });
    let run_as = steps.run_as.as_ref().map(|r| {
        account(r, "account", diags);
        if let Some(t) = &team
            && r.get_ref() == &t.service_account
        {
            diags.push(
                at_line(Diagnostic::at(
                    path,
                    src,
                    r.span(),
                    "steps would run as the service account, which owns the store",
                ))
                .expected("an executor account of its own (`pilote-run`)"),
            );
        }
        r.get_ref().clone()
    });
    if team.is_some() && run_as.is_none() {
        let d = Diagnostic::at(
            path,
            src,
            0..0,
            "a team workspace (`[team]`) needs `[steps] run_as`: no step may run as the service account",
        );
        diags.push(at_line(d).expected("`[steps]` with `run_as = \"pilote-run\"`"));
    }
    let umask = match &steps.umask {
        None => DEFAULT_STEP_UMASK,
        Some(u) => match u32::from_str_radix(u.get_ref(), 8) {
            Ok(m) if m <= 0o777 && !u.get_ref().is_empty() => m,
            _ => {
                diags.push(
                    at_line(Diagnostic::at(
                        path,
                        src,
                        u.span(),
                        format!("`{}` is not a umask", u.get_ref()),
                    ))
                    .expected("an octal mode such as \"022\" or \"027\""),
                );
                DEFAULT_STEP_UMASK
            }
        },
    };
    (team, Steps { run_as, umask })
}

/// Where `pilote setup-team` registers each team's service account (a dir of its own, beside
/// any team's config dir, root's): `<account>.toml` there, written by root, names the one config dir that account serves. A process running as a
/// registered account uses that workspace and no other, so nobody who can become the
/// account (through the sudo rule every team member has) runs a config of their own as it.
pub const TEAMS_DIR: &str = "/etc/pilote-teams";

/// What the registry says of a service account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The team's config dir (absolute).
    pub config: PathBuf,
}

/// The registration of `account`, if it is a team's service account. An entry that is not
/// root's alone is an error: whoever could write it could send the account elsewhere.
pub fn registration(account: &str) -> Result<Option<Registration>, String> {
    let path = Path::new(TEAMS_DIR).join(format!("{account}.toml"));
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        Ok(_) => {}
    }
    admin_owned(&path)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: {}", path.display(), e.message()))
}

/// The `[team]` of the workspace at `dir`, read on its own (before the workspace is loaded,
/// to know whether to go through sudo). `None`: no `[team]`, or no readable `pilote.toml`
/// (the full load says what is wrong with it).
pub fn peek(dir: &Path) -> Option<Team> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        team: Option<TeamSection>,
    }
    let text = std::fs::read_to_string(dir.join(super::SETTINGS_FILE)).ok()?;
    let t = toml::from_str::<Only>(&text).ok()?.team?;
    Some(Team {
        service_account: t.service_account.into_inner(),
        group: t.group.into_inner(),
        binary: t.binary.into_inner(),
    })
}

/// `path`, and every directory above it, belong to root and only root can write them (a
/// root-owned sticky directory such as /tmp is fine: nobody else can rename what is in it),
/// and `path` is no symbolic link: what a team's account reads as its config is the admins'.
pub fn admin_owned(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; a team's config is the admins' own files, not links",
            path.display()
        ));
    }
    let bad = |p: &Path, m: &std::fs::Metadata| -> Option<String> {
        let writable = m.mode() & 0o022 != 0 && !(m.is_dir() && m.mode() & 0o1000 != 0);
        if m.uid() != 0 {
            let owner = crate::identity::user_name(m.uid()).unwrap_or_else(|| m.uid().to_string());
            Some(format!(
                "{} belongs to {owner}, not root (fix: `chown root: {}`)",
                p.display(),
                p.display()
            ))
        } else if writable {
            Some(format!(
                "{} can be written by others than root (mode {:04o}; fix: `chmod go-w {}`)",
                p.display(),
                m.mode() & 0o7777,
                p.display()
            ))
        } else {
            None
        }
    };
    if let Some(why) = bad(path, &meta) {
        return Err(why);
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    for dir in canonical.ancestors().skip(1) {
        let m =
            std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if let Some(why) = bad(dir, &m) {
            return Err(why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_what_useradd_takes() {
        for ok in ["pilote", "pilote-run", "_svc", "a1"] {
            assert!(is_account_name(ok), "{ok}");
        }
        for bad in ["", "Pilote", "1abc", "a b", "root;", &"a".repeat(33)] {
            assert!(!is_account_name(bad), "{bad}");
        }
    }
}
