//! Who is acting: the OS user, from the real uid (or, for root, the `SUDO_UID` sudo set),
//! never from `$USER` (which anyone can set).

use std::fs;

/// The person behind this process, as recorded in audit events and approvals.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Actor {
    pub uid: u32,
    pub name: String,
    /// SUDO_UID was set but could not be believed: this may be someone acting through a
    /// shared account, so decisions that need a person (approvals) are refused.
    #[serde(skip)]
    pub uncertain: bool,
}

impl Actor {
    pub fn current() -> Self {
        // Tests play several people (a requester, two approvers). Debug builds only: the
        // release binary has no way to act as someone else.
        #[cfg(debug_assertions)]
        if let Some((name, uid)) = std::env::var("PILOTE_TEST_ACTOR").ok().and_then(|v| {
            v.split_once(':')
                .map(|(n, u)| (n.to_string(), u.parse().ok()))
        }) && let Some(uid) = uid
        {
            return Self {
                uid,
                name,
                uncertain: false,
            };
        }
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        let mut uid = rustix::process::getuid().as_raw();
        let mut uncertain = false;
        // Under sudo (as root, or as a service account owning the workspace: `sudo -u pilote
        // pilote ...`), the person is who ran sudo. SUDO_UID is believed only when it is the
        // real uid of this process's parent and that parent is sudo itself (named sudo,
        // running as root): `sudo -u pilote env SUDO_UID=...` or a shell started by sudo
        // cannot name someone else.
        if let Some(sudo_uid) = std::env::var("SUDO_UID").ok().and_then(|u| u.parse().ok()) {
            if sudo_parent_uid() == Some(sudo_uid) && user_name(&passwd, sudo_uid).is_some() {
                uid = sudo_uid;
            } else {
                uncertain = true;
            }
        }
        let name = user_name(&passwd, uid).unwrap_or_else(|| format!("uid{uid}"));
        Self {
            uid,
            name,
            uncertain,
        }
    }
}

/// If the parent process is sudo (named `sudo` and running as root: a process of the same
/// user could take the name, not the uid), the real uid of whoever ran it.
fn sudo_parent_uid() -> Option<u32> {
    let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    if ppid <= 1 {
        return None;
    }
    let comm = fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
    let status = fs::read_to_string(format!("/proc/{ppid}/status")).ok()?;
    let (real, effective) = uids(&status)?;
    (comm.trim() == "sudo" && effective == 0).then_some(real)
}

/// (real, effective) uid in the text of `/proc/PID/status` (`Uid: real effective saved fs`).
fn uids(status: &str) -> Option<(u32, u32)> {
    let mut ids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .map(|u| u.parse().ok());
    Some((ids.next()??, ids.next()??))
}

/// Looks `uid` up in the text of a passwd file.
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_and_effective_uids_lead_the_uid_line() {
        let status =
            "Name:\tsudo\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(uids(status), Some((1000, 0)));
        assert_eq!(uids("Name:\tx\n"), None);
        // This test's parent is cargo, not sudo.
        assert_eq!(sudo_parent_uid(), None);
    }

    #[test]
    fn finds_name_by_uid_not_by_position() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n";
        assert_eq!(user_name(passwd, 1001).as_deref(), Some("bob"));
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 7), None);
    }
}
