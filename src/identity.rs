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
            if sudo_parent_uid() == Some(sudo_uid) && name_in(&passwd, sudo_uid).is_some() {
                uid = sudo_uid;
            } else {
                uncertain = true;
            }
        }
        let name = name_in(&passwd, uid).unwrap_or_else(|| format!("uid{uid}"));
        Self {
            uid,
            name,
            uncertain,
        }
    }

    /// Why this actor cannot make a decision that needs a person (approve, reject, deploy to
    /// a protected env, answer its gate, override a freeze, block, mark done); `None` when
    /// it can. `service` and `executor` are the workspace's own accounts: they act for
    /// pilote, never for someone, and anyone who can reach them could otherwise decide in
    /// their name.
    pub fn not_a_person(&self, service: Option<&str>, executor: Option<&str>) -> Option<String> {
        if self.uncertain {
            return Some(format!(
                "pilote cannot tell who you are: SUDO_UID is set, but pilote was not started by sudo \
                 itself (run `sudo -u {} pilote ...` directly, not from a shell sudo opened)",
                self.name
            ));
        }
        if self.uid == 0 {
            return Some(
                "root is not a person: admins share it, so a decision made as root says nobody \
                 made it. Leave the root shell and run pilote as yourself"
                    .into(),
            );
        }
        if service == Some(self.name.as_str()) {
            return Some(format!(
                "{} is pilote's service account, not a person; run pilote as yourself (it goes \
                 through sudo to {} and records you)",
                self.name, self.name
            ));
        }
        if executor == Some(self.name.as_str()) {
            return Some(format!(
                "{} is the account pilote's steps run as, not a person; run pilote as yourself",
                self.name
            ));
        }
        None
    }
}

/// Whether sudo itself started this process (its parent is sudo, running as root).
pub fn started_by_sudo() -> bool {
    sudo_parent_uid().is_some()
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

/// An account of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: std::path::PathBuf,
}

/// The account named `name`, from `/etc/passwd`.
pub fn account(name: &str) -> Option<Account> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[0] == name).then(|| {
            Some(Account {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].into(),
            })
        })?
    })
}

/// The gid of group `name` and its members, from `/etc/group`.
pub fn group(name: &str) -> Option<(u32, Vec<String>)> {
    let groups = fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| {
            let members = f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some((f[2].parse().ok()?, members))
        })?
    })
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The name of account `uid`, from `/etc/passwd`.
pub fn user_name(uid: u32) -> Option<String> {
    name_in(&fs::read_to_string("/etc/passwd").ok()?, uid)
}

/// Looks `uid` up in the text of a passwd file.
fn name_in(passwd: &str, uid: u32) -> Option<String> {
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
        assert_eq!(name_in(passwd, 1001).as_deref(), Some("bob"));
        assert_eq!(name_in(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in(passwd, 7), None);
    }
}
