//! A copy of the demo's config in a private home, driven through the real binary: what the
//! engine, silence and ansible tests share (each adds its own automations and plan builders
//! in an `impl Ws` of its own).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Home, run};

pub struct Ws {
    pub home: Home,
    pub dir: PathBuf,
}

impl Ws {
    /// The demo's config files in `<home>/ws`, not yet a demo: no store, no sandbox.
    pub fn demo_config() -> Self {
        let home = Home::new();
        let dir = home.demo_config();
        Self { home, dir }
    }

    /// `pilote --workspace DIR ARGS...`: (exit code, stdout, stderr).
    pub fn pilote(&self, args: &[&str]) -> (i32, String, String) {
        run(self
            .home
            .pilote()
            .arg("--workspace")
            .arg(&self.dir)
            .args(args))
    }

    pub fn data(&self) -> PathBuf {
        self.home.path().join("data/pilote/workspaces/demo")
    }

    /// Starts a run of `plan` on `env` without following it; its id.
    pub fn start(&self, plan: &str, env: &str) -> String {
        let (code, out, err) = self.pilote(&["run", plan, "--env", env]);
        assert_eq!(code, 0, "{out}{err}");
        out.trim().to_string()
    }

    /// Run `id` as `pilote runs --json` shows it (`null` if there is none).
    pub fn run_json(&self, id: &str) -> serde_json::Value {
        let (_, out, _) = self.pilote(&["runs", "--json"]);
        super::run_in(&out, id)
    }

    /// Run `id` once it is in `state`; panics after 30 s with what it is.
    pub fn wait_state(&self, id: &str, state: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.run_json(id);
            if r["state"] == state {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} never reached {state}: {r}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn logs(&self, id: &str) -> String {
        self.pilote(&["logs", id]).1
    }

    /// The log of run `id` once it holds `needle` (lines are stored in batches, after the
    /// state changes they go with); panics after 60 s with the log.
    pub fn wait_log(&self, id: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.logs(id);
            if out.contains(needle) {
                return out;
            }
            assert!(Instant::now() < deadline, "never logged {needle:?}:\n{out}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
