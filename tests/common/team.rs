//! A team on one jump host, for real: `pilote setup-team` run as root with names of this
//! test's own (a service account, an executor account, a group, people), a team workspace
//! the admin fills in, and each person acting as themselves (`runuser`), their pilote going
//! through the real sudo to the service account. Never `PILOTE_TEST_ACTOR`.
//!
//! Needs root and sudo; everything is removed when the `Team` is dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A unique tag per team: names must differ between tests running at once and between runs.
fn tag() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{:x}{}",
        std::process::id() % 0xfff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Team {
    pub root: PathBuf,
    pub config: PathBuf,
    pub data: PathBuf,
    pub drop: PathBuf,
    pub exec_home: PathBuf,
    /// Where the local hosts' files are: the executor's.
    pub hosts: PathBuf,
    pub svc: String,
    pub exec: String,
    pub group: String,
    pub people: Vec<String>,
    others: Vec<String>,
    bin: PathBuf,
}

/// Whether this machine can play a team: root, with sudo.
pub fn available() -> bool {
    rustix::process::geteuid().is_root() && Path::new("/usr/bin/sudo").exists()
}

pub fn sh(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn must(cmd: &mut Command) -> String {
    let (code, out, err) = sh(cmd);
    assert_eq!(code, 0, "{cmd:?}: {out}{err}");
    out
}

impl Team {
    /// A team whose members are `people` (their names get this team's tag), set up by root.
    pub fn new(people: &[&str]) -> Self {
        let t = tag();
        let root = PathBuf::from(format!("/tmp/pilote-team-{t}"));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("root");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_pilote"));
        let team = Self {
            config: root.join("etc"),
            data: root.join("data"),
            drop: root.join("drop"),
            exec_home: root.join("run"),
            hosts: root.join("run/hosts"),
            svc: format!("pt{t}-svc"),
            exec: format!("pt{t}-run"),
            group: format!("pt{t}-dep"),
            people: people.iter().map(|p| format!("{p}{t}")).collect(),
            others: Vec::new(),
            root,
            bin,
        };
        let out = must(
            Command::new(&team.bin)
                .arg("setup-team")
                .arg("--config")
                .arg(&team.config)
                .arg("--data")
                .arg(&team.data)
                .arg("--drop")
                .arg(&team.drop)
                .args(["--service-account", &team.svc])
                .args(["--executor", &team.exec])
                .arg("--executor-home")
                .arg(&team.exec_home)
                .args(["--group", &team.group])
                .arg("--binary")
                .arg(&team.bin)
                .args(["--name", "team"]),
        );
        assert!(out.contains("visudo -c: ok"), "{out}");
        // As sudo wants it: root's, 0440, and the whole sudoers still passes `visudo -c`.
        let dropin = format!("/etc/sudoers.d/pilote-{}", team.svc);
        let meta = fs::metadata(&dropin).expect("drop-in");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o440, "{dropin}");
        must(Command::new("visudo").args(["-c", "-q"]));
        for p in &team.people {
            team.add_user(p, true);
        }
        team
    }

    /// The name this team gives person `who` ("alice" -> "alice3a1").
    pub fn name(&self, who: &str) -> String {
        self.people
            .iter()
            .chain(&self.others)
            .find(|p| p.starts_with(who) && p[who.len()..].chars().all(|c| c.is_ascii_hexdigit()))
            .cloned()
            .unwrap_or_else(|| panic!("no person {who}"))
    }

    /// A user with a home of their own under the team's root; in the group if `member`.
    fn add_user(&self, name: &str, member: bool) {
        let home = self.root.join("home").join(name);
        let _ = sh(Command::new("userdel").arg(name));
        let mut cmd = Command::new("useradd");
        cmd.args(["--no-create-home", "--shell", "/bin/sh", "--home-dir"])
            .arg(&home);
        if member {
            cmd.args(["--groups", &self.group]);
        }
        must(cmd.arg(name));
        fs::create_dir_all(&home).expect("home");
        must(Command::new("chown").arg(format!("{name}:")).arg(&home));
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).expect("chmod");
    }

    /// Someone of the jump host who is not in the team.
    pub fn outsider(&mut self, who: &str) -> String {
        let name = format!("{who}{}", tag());
        self.add_user(&name, false);
        self.others.push(name.clone());
        name
    }

    pub fn home(&self, person: &str) -> PathBuf {
        self.root.join("home").join(person)
    }

    /// `pilote ARGS` typed by `person` (a full name), in their home: (code, stdout, stderr).
    pub fn as_person(&self, person: &str, args: &[&str]) -> (i32, String, String) {
        sh(&mut self.command_as(person, args))
    }

    /// As [`Team::as_person`], but asserting success; stdout.
    pub fn ok(&self, person: &str, args: &[&str]) -> String {
        let (code, out, err) = self.as_person(person, args);
        assert_eq!(code, 0, "{person}: pilote {args:?}: {out}{err}");
        out
    }

    /// The command: `runuser -u PERSON -- pilote -w CONFIG ARGS` with a person's plain
    /// environment (what a login gives), in their home.
    pub fn command_as(&self, person: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("/usr/sbin/runuser");
        cmd.args(["-u", person, "--"])
            .arg(&self.bin)
            .arg("--workspace")
            .arg(&self.config)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.home(person))
            .env("USER", person)
            .env("LANG", "C.UTF-8")
            .current_dir(self.home(person));
        cmd
    }

    /// Writes a file as the admin (root's, readable by all) into the team's config.
    pub fn admin_writes(&self, rel: &str, text: &str) {
        let path = self.config.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        fs::write(&path, text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.config.parent().unwrap_or(d) {
                break;
            }
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod");
            dir = d.parent();
        }
    }

    /// Writes a file as `person` (in their home, their own): its path.
    pub fn person_writes(&self, person: &str, rel: &str, text: &str) -> PathBuf {
        let path = self.home(person).join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        fs::write(&path, text).expect("write");
        must(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{person}:"))
                .arg(self.home(person)),
        );
        path
    }

    /// The pets app on three local hosts (uat, preprod, protected prod), each a dir of the
    /// executor's; a lifecycle uat (no approval) -> preprod (1) -> prod (2, of the board);
    /// automations that copy the WAR (mode 0444, to prove a redeploy replaces it), record
    /// each effect, and a gate on uat when `gate` is set.
    pub fn pets(&self, board: &[&str], gate: bool) {
        let mut board: Vec<String> = board
            .iter()
            .map(|b| format!("{:?}", self.name(b)))
            .collect();
        // prod takes two of the board: a board of one would not load.
        while board.len() < 2 {
            board.push(format!("\"absent{}\"", board.len()));
        }
        self.admin_writes(
            "inventory.toml",
            r#"[apps.pets]
description = "Pet clinic"
lifecycles = ["standard"]

[apps.pets.domains.war]
description = "The application server"

[hosts.uat-1]
connection = "local"
[hosts.pre-1]
connection = "local"
[hosts.prod-1]
connection = "local"

[envs.uat.apps.pets]
war = ["uat-1"]

[envs.preprod.apps.pets]
war = ["pre-1"]

[envs.prod]
protected = true

[envs.prod.apps.pets]
war = ["prod-1"]
"#,
        );
        self.admin_writes(
            "lifecycles.toml",
            &format!(
                r#"[groups]
board = [{}]

[lifecycles.standard]
[[lifecycles.standard.stages]]
env = "uat"
approvals = 0

[[lifecycles.standard.stages]]
env = "preprod"
approvals = 1

[[lifecycles.standard.stages]]
env = "prod"
approvals = 2
approvers = "board"
"#,
                board.join(", ")
            ),
        );
        let base = self.hosts.display().to_string();
        let gate_step = if gate {
            r#"
[[app-deploy.steps]]
name = "wait for the go"
kind = "gate"
prompt = "go on?"
"#
        } else {
            ""
        };
        self.admin_writes(
            "automations/app.toml",
            &format!(
                r#"[app-deploy]
description = "Deploy the WAR"
domain = "war"

[app-deploy.params.war]
type = "artifact"
{gate_step}
[[app-deploy.steps]]
name = "transfer the WAR"
kind = "copy"
artifact = "war"
dest = "{base}/${{env}}/${{host}}/deployments/pets.war"
mode = "0444"

[[app-deploy.steps]]
name = "record"
kind = "ssh"
script = '''
cd "{base}/$PILOTE_ENV/$PILOTE_HOST"
echo deployed >> effects
touch made-by-step
echo "as $(id -un), umask $(umask), started in $OLDPWD"
'''

[app-restore]
description = "Put the previous WAR back"
domain = "war"

[[app-restore.steps]]
name = "restore"
kind = "ssh"
script = '''
cd "{base}/$PILOTE_ENV/$PILOTE_HOST"
echo restored >> effects
'''
"#
            ),
        );
        fs::create_dir_all(&self.hosts).expect("hosts");
        must(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{}:", self.exec))
                .arg(&self.exec_home),
        );
    }

    /// The plan a requester writes in her home.
    pub fn plan_text() -> &'static str {
        r#"app = "pets"
lifecycle = "standard"
description = "pets 1.4.0"

[vars]
version = "1.4.0"

[[actions]]
id = "deploy-war"
title = "Deploy the WAR"
uses = "app-deploy"
with = { war = "pets.war" }
undo = "app-restore"
"#
    }

    /// `person` drops pets 1.4.0 (one WAR of `size` bytes) into the team's drop dir and
    /// sweeps it into the vault.
    pub fn drop_release(&self, person: &str, size: usize) {
        let dir = self.home(person).join("pets-1.4.0");
        fs::create_dir_all(&dir).expect("dir");
        let mut war = b"Implementation-Version: 1.4.0\n".to_vec();
        war.resize(size.max(war.len()), b'x');
        fs::write(dir.join("pets.war"), war).expect("war");
        must(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{person}:"))
                .arg(&dir),
        );
        // As the person: copied under a dot-name, then renamed, as the drop dir asks.
        must(
            Command::new("/usr/sbin/runuser")
                .args(["-u", person, "--", "sh", "-c"])
                .arg(format!(
                    "cp -r '{}' '{}/.pets-1.4.0' && mv '{}/.pets-1.4.0' '{}/pets-1.4.0'",
                    dir.display(),
                    self.drop.display(),
                    self.drop.display(),
                    self.drop.display()
                )),
        );
        let out = self.ok(person, &["vault", "sweep", "--settle", "0"]);
        assert!(
            out.contains("pets 1.4.0") || out.contains("imported"),
            "{out}"
        );
    }

    /// A local host's dir.
    pub fn host(&self, env: &str, host: &str) -> PathBuf {
        self.hosts.join(env).join(host)
    }

    /// The run `id` once it is in `state` (as `person` sees it); panics after 60 s.
    pub fn wait_state(&self, person: &str, id: &str, state: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run = super::run_in(&self.ok(person, &["runs", "--json"]), id);
            if run["state"] == state {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} never reached {state}: {run}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs SQL on the store as root (the admin's sqlite3).
    pub fn sql(&self, query: &str) -> String {
        must(
            Command::new("sqlite3")
                .arg(self.data.join("pilote.db"))
                .arg(query),
        )
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        // Runners and executors of this team's accounts first, then the accounts.
        for user in [&self.svc, &self.exec] {
            let _ = sh(Command::new("pkill").args(["-KILL", "-u", user]));
        }
        for user in self
            .people
            .iter()
            .chain(&self.others)
            .chain([&self.svc, &self.exec])
        {
            let _ = sh(Command::new("userdel").arg(user));
        }
        let _ = sh(Command::new("groupdel").arg(&self.group));
        for g in [&self.svc, &self.exec] {
            let _ = sh(Command::new("groupdel").arg(g));
        }
        let _ = fs::remove_file(format!("/etc/sudoers.d/pilote-{}", self.svc));
        let _ = fs::remove_file(format!("/etc/pilote-teams/{}.toml", self.svc));
        let _ = fs::remove_dir_all(&self.root);
    }
}
