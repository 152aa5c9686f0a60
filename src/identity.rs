//! Who is acting: the OS user, from the real uid (or, for root, the `SUDO_UID` sudo set),
//! never from `$USER` (which anyone can set).

use std::fs;

/// The person behind this process, as recorded in audit events and approvals.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Actor {
    pub uid: u32,
    pub name: String,
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
            return Self { uid, name };
        }
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        let mut uid = rustix::process::getuid().as_raw();
        // Under sudo (as root, or as a service account owning the workspace: `sudo -u pilote
        // pilote ...`), the person is who ran sudo. SUDO_UID is believed only when this
        // process is root or its parent is sudo itself (a process named sudo running as
        // root): anyone else could set it to name someone they are not.
        if let Some(sudo_uid) = std::env::var("SUDO_UID").ok().and_then(|u| u.parse().ok())
            && (uid == 0 || parent_is_sudo())
            && user_name(&passwd, sudo_uid).is_some()
        {
            uid = sudo_uid;
        }
        let name = user_name(&passwd, uid).unwrap_or_else(|| format!("uid{uid}"));
        Self { uid, name }
    }
}

/// Whether the parent process is sudo: named `sudo` and running as root (a process of the
/// same user could take the name, not the uid).
fn parent_is_sudo() -> bool {
    let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    if ppid <= 1 {
        return false;
    }
    let comm = fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap_or_default();
    let status = fs::read_to_string(format!("/proc/{ppid}/status")).unwrap_or_default();
    comm.trim() == "sudo" && effective_uid(&status) == Some(0)
}

/// The effective uid in the text of `/proc/PID/status` (`Uid: real effective saved fs`).
fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
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
    fn the_effective_uid_is_the_second_of_the_uid_line() {
        let status =
            "Name:\tsudo\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\tx\n"), None);
        // This test's parent is cargo, not sudo.
        assert!(!parent_is_sudo());
    }

    #[test]
    fn finds_name_by_uid_not_by_position() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n";
        assert_eq!(user_name(passwd, 1001).as_deref(), Some("bob"));
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 7), None);
    }
}
