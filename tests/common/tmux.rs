//! Driving the real binary in a real terminal: a tmux server of its own per test.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
    /// Holds the file the wrapper shell writes the program's exit status to.
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` (a shell line) in a detached session of `width`x`height`.
    pub fn start(command: &str, width: u16, height: u16) -> Self {
        let socket = format!("pilote-test-{}-{}", std::process::id(), next_id());
        let t = Self {
            socket,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        // The exit status goes through a file: under load tmux sometimes never reaps a pane's
        // process, leaving `pane_dead_status` empty for good (seen with tmux 3.3a).
        let status = t.dir.path().join("status");
        let command = format!(
            "{command}; echo $? > {}.tmp && mv {}.tmp {}",
            status.display(),
            status.display(),
            status.display()
        );
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &command,
            ";",
            "set-option",
            "-t",
            "t",
            "remain-on-exit",
            "on",
        ]);
        assert!(
            out.status.success(),
            "tmux failed to start (is tmux installed? apt-get install tmux): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .output()
            .expect("tmux runs (apt-get install tmux)")
    }

    pub fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Waits until the screen satisfies `pred`, failing with the last screen after 10 s.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the program to exit and returns its exit status.
    pub fn wait_exit(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = self.dir.path().join("status");
        loop {
            if let Ok(text) = std::fs::read_to_string(&status) {
                return text.trim().parse().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "program did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn next_id() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static ID: AtomicUsize = AtomicUsize::new(0);
    ID.fetch_add(1, Ordering::SeqCst)
}
