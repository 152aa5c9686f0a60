//! A private OpenSSH server on loopback for the remote execution tests: the real Debian
//! `sshd`, with generated host and user keys, listening on 127.0.0.2, 127.0.0.3, ... (one
//! address per test host, 16 per daemon: sshd refuses more listen sockets), all on one port.
//!
//! As root (CI), logins go to a dedicated user `pilote-ssh` with `/bin/sh` as shell, so no rc
//! file slows a command down; otherwise sshd runs as the current user and logs in as it.

use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const SSHD: &str = "/usr/sbin/sshd";
const TEST_USER: &str = "pilote-ssh";

pub struct Sshd {
    pub dir: TempDir,
    pub port: u16,
    pub user: String,
    /// One per test host: 127.0.0.2, 127.0.0.3, ...
    pub addresses: Vec<String>,
    daemons: Vec<Child>,
}

impl Sshd {
    /// Starts daemons serving `hosts` addresses, each answering within 5 s, with `extra`
    /// appended to every daemon's config (e.g. `Match LocalAddress` blocks).
    pub fn start(hosts: usize, extra: &str) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        // sshd reads authorized keys as the target user: the dir must be traversable.
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).expect("chmod");
        keygen(&root.join("host_key"));
        keygen(&root.join("id"));
        fs::copy(root.join("id.pub"), root.join("authorized_keys")).expect("copy key");
        fs::set_permissions(
            root.join("authorized_keys"),
            fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");

        let root_user = rustix::process::geteuid().is_root();
        let user = if root_user {
            ensure_test_user();
            TEST_USER.to_string()
        } else {
            std::env::var("USER").expect("USER")
        };
        if root_user {
            // Privilege separation directory, which Debian's init script would create.
            fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        }
        let addresses: Vec<String> = (0..hosts).map(|i| format!("127.0.0.{}", i + 2)).collect();
        // Another test may take the same port on the same addresses between our choice and
        // our bind: then our daemon says so and exits, and we try another port.
        let mut attempt = 0;
        let (port, daemons) = loop {
            attempt += 1;
            let port = free_port();
            let daemons = spawn_daemons(root, port, &addresses, extra);
            match wait_listening(root, port, &addresses, daemons) {
                Ok(daemons) => break (port, daemons),
                Err(why) if attempt >= 5 => panic!("sshd did not start: {why}"),
                Err(_) => {}
            }
        };
        let sshd = Self {
            dir,
            port,
            user,
            addresses,
            daemons,
        };
        sshd.write_client_config();
        sshd
    }

    /// `ssh_config` for the client: the test key, the port, a private known_hosts file, and
    /// the settings an operator's config has for hops pilote's options do not reach (the
    /// ssh that ProxyJump starts reads only the config).
    fn write_client_config(&self) {
        let root = self.dir.path();
        fs::write(
            root.join("ssh_config"),
            format!(
                "Host *\n  Port {}\n  User {}\n  IdentityFile {root}/id\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {root}/known_hosts\n  StrictHostKeyChecking accept-new\n  \
                 BatchMode yes\n",
                self.port,
                self.user,
                root = root.display()
            ),
        )
        .expect("write ssh config");
    }

    pub fn client_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// Appends text to the client config (host aliases, ProxyJump).
    pub fn add_client_config(&self, text: &str) {
        let path = self.client_config();
        let mut cfg = fs::read_to_string(&path).expect("read ssh config");
        // Host blocks must come before `Host *`, whose values would win otherwise.
        cfg.insert_str(0, text);
        fs::write(path, cfg).expect("write ssh config");
    }

    /// The line known_hosts needs to trust `address` (non-default ports are bracketed).
    pub fn known_hosts_line(&self, address: &str) -> String {
        let key = fs::read_to_string(self.dir.path().join("host_key.pub")).expect("host key");
        let mut parts = key.split_whitespace();
        let (kind, body) = (parts.next().expect("kind"), parts.next().expect("key"));
        format!("[{address}]:{} {kind} {body}\n", self.port)
    }

    pub fn logs(&self) -> String {
        sshd_logs(self.dir.path())
    }

    /// Processes started through this server (never another test's: they carry its
    /// `PILOTE_TEST_SSHD` in their environment, even once orphaned) whose command line
    /// contains `needle`, as `pid command`. Zombies are dead already and left out.
    pub fn remote_processes(&self, needle: &str) -> Vec<String> {
        let tag = format!("PILOTE_TEST_SSHD={}", self.dir.path().display());
        let Ok(procs) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        procs
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| {
                let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
                if !environ.split(|b| *b == 0).any(|v| v == tag.as_bytes()) {
                    return None;
                }
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                if stat.rsplit(')').next()?.trim_start().starts_with('Z') {
                    return None;
                }
                let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
                cmd.contains(needle)
                    .then(|| format!("{pid} {}", cmd.trim_end()))
            })
            .collect()
    }

    /// Every process under the daemons (the per-connection sshd processes and what they
    /// run), not the daemons themselves.
    pub fn session_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        let mut parents: Vec<u32> = self.daemons.iter().map(Child::id).collect();
        while let Some(parent) = parents.pop() {
            let out = Command::new("pgrep")
                .args(["-P", &parent.to_string()])
                .output()
                .expect("pgrep");
            for pid in String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok())
            {
                parents.push(pid);
                pids.extend(i32::try_from(pid));
            }
        }
        pids
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

/// One daemon per 16 addresses (sshd refuses more listen sockets), logging to `sshdN.log`.
fn spawn_daemons(root: &Path, port: u16, addresses: &[String], extra: &str) -> Vec<Child> {
    let mut daemons = Vec::new();
    for (n, chunk) in addresses.chunks(16).enumerate() {
        let mut cfg = format!(
            "Port {port}\nHostKey {root}/host_key\nAuthorizedKeysFile {root}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             MaxStartups 200\nMaxSessions 100\nPidFile none\nLogLevel DEBUG1\n\
             Subsystem sftp /usr/lib/openssh/sftp-server\nSetEnv PILOTE_TEST_SSHD={root}\n",
            root = root.display()
        );
        for a in chunk {
            let _ = writeln!(cfg, "ListenAddress {a}");
        }
        cfg.push_str(extra);
        let cfg_path = root.join(format!("sshd_config{n}"));
        fs::write(&cfg_path, cfg).expect("write sshd config");
        let log = fs::File::create(root.join(format!("sshd{n}.log"))).expect("log");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        daemons.push(child);
    }
    daemons
}

/// Waits until each daemon's log says it listens on each of its addresses (a connection
/// could reach another test's daemon on the same port); kills them all on failure.
fn wait_listening(
    root: &Path,
    port: u16,
    addresses: &[String],
    mut daemons: Vec<Child>,
) -> Result<Vec<Child>, String> {
    let start = Instant::now();
    let expected: Vec<String> = addresses
        .iter()
        .map(|a| format!("Server listening on {a} port {port}."))
        .collect();
    loop {
        let logs = sshd_logs(root);
        if expected.iter().all(|line| logs.contains(line)) {
            return Ok(daemons);
        }
        let exited = daemons
            .iter_mut()
            .any(|d| d.try_wait().ok().flatten().is_some());
        if exited || start.elapsed() > Duration::from_secs(5) {
            for d in &mut daemons {
                let _ = d.kill();
                let _ = d.wait();
            }
            return Err(logs);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sshd_logs(dir: &Path) -> String {
    let mut out = String::new();
    for n in 0.. {
        match fs::read_to_string(dir.join(format!("sshd{n}.log"))) {
            Ok(text) => out.push_str(&text),
            Err(_) => break,
        }
    }
    out
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
}

fn ensure_test_user() {
    // Test binaries run at once: one creates the user while the others wait.
    let lock = fs::File::create(std::env::temp_dir().join("pilote-ssh-user.lock")).expect("lock");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let exists = Command::new("id")
        .arg(TEST_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if exists {
        return;
    }
    // Two test binaries may race to create it: the loser's "already exists" is fine.
    let _ = Command::new("useradd")
        .args(["-m", "-s", "/bin/sh", TEST_USER])
        .stderr(Stdio::null())
        .status();
    // A locked password (`!`) refuses key logins too with UsePAM no; `*` only refuses passwords.
    let status = Command::new("usermod")
        .args(["-p", "*", TEST_USER])
        .status()
        .expect("usermod");
    assert!(status.success(), "usermod failed");
}

fn free_port() -> u16 {
    // Bound on 127.0.0.1 and released: the daemons bind other loopback addresses on it.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
