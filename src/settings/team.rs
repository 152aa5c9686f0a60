//! `[team]` and `[steps]`: who owns a team's workspace, who people reach it through, and the
//! account steps run as.
//!
//! A team workspace (written by `pilote setup-team`) is owned by a service account; each
//! person types `pilote ...` as themselves and pilote re-executes itself through sudo as that
//! account. Steps never run as the account that owns the store: they run as `run_as`, the
//! executor account, which cannot read or write the store.

use std::path::{Path, PathBuf};

use super::files::{StepsSection, TeamSection};
use super::{Diagnostic, Diagnostics, at_line};

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
