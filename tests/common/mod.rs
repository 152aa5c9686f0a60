//! Shared test harness: a private XDG home per test and the real `pilote` binary.
#![allow(dead_code)] // Each test crate uses a different part of the harness.

pub mod alertmanager;
pub mod http;
pub mod people;
pub mod pty;
pub mod reliability;
pub mod sshd;
pub mod team;
pub mod tmux;
pub mod workspace;

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// A throwaway home: XDG config/data/state dirs under one temp dir, so tests never touch the
/// developer's real workspace and can run in parallel.
pub struct Home {
    pub root: TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// `pilote` with this home's environment and nothing inherited that changes behaviour.
    pub fn pilote(&self) -> Command {
        let mut cmd = Command::cargo_bin("pilote").expect("pilote binary");
        cmd.env_clear().envs(self.vars());
        cmd
    }

    /// The environment `pilote` gets in this home (after `env_clear`).
    pub fn vars(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            ("PATH", std::env::var_os("PATH").unwrap_or_default()),
            ("HOME", self.path().into()),
            ("XDG_CONFIG_HOME", self.path().join("config").into()),
            ("XDG_DATA_HOME", self.path().join("data").into()),
            ("XDG_STATE_HOME", self.path().join("state").into()),
            ("LANG", "C.UTF-8".into()),
        ]
    }

    /// A copy of the demo's config files in `<home>/ws`, for tests that break them on purpose.
    pub fn demo_config(&self) -> PathBuf {
        let dir = self.path().join("ws");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config");
        copy_dir(&src, &dir);
        dir
    }

    /// The demo workspace of this home (after `pilote demo`) and its store, opened in this
    /// process, for tests that call the library as the console does.
    pub fn demo_store(&self) -> (pilote::settings::Workspace, pilote::store::Store) {
        let ws = pilote::settings::load(
            &pilote::settings::Located {
                dir: self.path().join("config/pilote"),
                origin: pilote::settings::Origin::Flag,
            },
            &pilote::settings::Overrides {
                data_dir: Some(self.path().join("data/pilote/workspaces/demo")),
                ..pilote::settings::Overrides::default()
            },
        )
        .expect("workspace");
        let store = pilote::store::Store::open(
            &ws.data_dir,
            &ws.config_dir,
            std::time::Duration::from_secs(5),
        )
        .expect("store");
        (ws, store)
    }

    /// Replaces the home's path by `[HOME]` so snapshots do not depend on the temp dir.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.path().display().to_string(), "[HOME]")
    }
}

pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("create dir");
    for entry in fs::read_dir(src).expect("read dir") {
        let entry = entry.expect("entry");
        let target = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Edits one file of a workspace by plain text replacement; panics if `from` is absent so a
/// test cannot silently stop testing what it claims.
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).expect("read config");
    assert!(text.contains(from), "{file} does not contain {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).expect("write config");
}

/// Adds to the workspace config `dir` a `hold` automation (a gate asking "smoke tests
/// green?", then `echo confirmed`) and `plans/hold.toml`, which uses it.
pub fn hold_plan(dir: &Path) {
    fs::write(
        dir.join("automations/hold.toml"),
        "[hold]\ndescription = \"Wait for a person\"\nchanges_state = false\n\
         [[hold.steps]]\nname = \"ask\"\nkind = \"gate\"\nprompt = \"smoke tests green?\"\n\
         [[hold.steps]]\nname = \"after\"\nkind = \"shell\"\nscript = \"echo confirmed\"\n",
    )
    .expect("automation");
    fs::write(
        dir.join("plans/hold.toml"),
        "app = \"pets\"\n\n[[actions]]\nid = \"hold\"\ntitle = \"Hold\"\nuses = \"hold\"\n",
    )
    .expect("plan");
}

/// Adds to the workspace config `dir` a `soak` automation running `script` on the jump host
/// (a shell step, 2 minutes at most) and `plans/soak.toml`, which uses it: a run that lasts
/// as long as a test needs.
pub fn soak_plan(dir: &Path, script: &str) {
    fs::write(
        dir.join("automations/soak.toml"),
        format!(
            "[soak]\ndescription = \"Wait, saying so\"\nchanges_state = false\n\n\
             [[soak.steps]]\nname = \"soak\"\nkind = \"shell\"\ntimeout = \"2m\"\n\
             script = '''{script}'''\n"
        ),
    )
    .expect("automation");
    fs::write(
        dir.join("plans/soak.toml"),
        "app = \"pets\"\n\n[[actions]]\nid = \"soak\"\ntitle = \"Soak\"\nuses = \"soak\"\n",
    )
    .expect("plan");
}

/// `pilote request new` of pets 1.4.0 with `plan`: what most tests file.
pub fn filing(plan: &str) -> [&str; 8] {
    [
        "request",
        "new",
        "--app",
        "pets",
        "--version",
        "1.4.0",
        "--plan",
        plan,
    ]
}

/// Run `id` in the text of `pilote runs --json` (`null` when it is not there).
pub fn run_in(runs_json: &str, id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(runs_json).expect("json");
    v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(id))
        .cloned()
        .unwrap_or_default()
}

/// Runs `cmd`, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run pilote");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Standard base64 with padding, written here so a test does not trust pilote's own.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (u32::from(c) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
