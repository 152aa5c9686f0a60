//! The real binary in a real pseudo-terminal (portable-pty), its screen read back through a
//! terminal emulator (vt100): what an operator would see.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

use super::Home;

/// How long a screen may take to show what a test waits for (a debug build on a busy
/// 2-core machine).
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Pty {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Option<Box<dyn Write + Send>>,
    master: Option<Box<dyn MasterPty + Send>>,
    child: Box<dyn Child + Send + Sync>,
    stop: Arc<AtomicBool>,
}

impl Pty {
    /// Starts `pilote ARGS` in `home`, on a `cols`x`rows` terminal.
    pub fn start(home: &Home, args: &[&str], cols: u16, rows: u16) -> Self {
        Self::start_with(home, args, &[], cols, rows)
    }

    /// The same, with more environment variables.
    pub fn start_with(
        home: &Home,
        args: &[&str],
        env: &[(&str, &str)],
        cols: u16,
        rows: u16,
    ) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let bin = assert_cmd::cargo::cargo_bin("pilote");
        let mut cmd = CommandBuilder::new(bin);
        cmd.args(args);
        cmd.env_clear();
        let p = home.path();
        for (k, v) in [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", p.display().to_string()),
            ("XDG_CONFIG_HOME", p.join("config").display().to_string()),
            ("XDG_DATA_HOME", p.join("data").display().to_string()),
            ("XDG_STATE_HOME", p.join("state").display().to_string()),
            ("TERM", "xterm-256color".into()),
            ("LANG", "C.UTF-8".into()),
        ] {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.cwd(p);
        let child = pair.slave.spawn_command(cmd).expect("spawn pilote");
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let sink = Arc::clone(&parser);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                // After a hang-up this thread holds the last handle on the terminal: it lets
                // go at the next output (the console redraws every second).
                if n == 0 || stopped.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(mut p) = sink.lock() {
                    p.process(&buf[..n]);
                }
            }
        });
        let writer = pair.master.take_writer().expect("pty writer");
        Self {
            parser,
            writer: Some(writer),
            master: Some(pair.master),
            child,
            stop,
        }
    }

    pub fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// The colours and inversion of the cell at (`row`, `col`).
    pub fn cell_style(&self, row: u16, col: u16) -> (vt100::Color, vt100::Color, bool) {
        let p = self.parser.lock().expect("parser");
        let c = p.screen().cell(row, col).expect("cell");
        (c.fgcolor(), c.bgcolor(), c.inverse())
    }

    /// The window title the program set (OSC 0/2), empty if none.
    pub fn title(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().title().to_string())
            .unwrap_or_default()
    }

    /// How many times the terminal's bell rang.
    pub fn bells(&self) -> usize {
        self.parser
            .lock()
            .map(|p| p.screen().audible_bell_count())
            .unwrap_or_default()
    }

    /// Whether the program still shows its alternate screen.
    pub fn alternate(&self) -> bool {
        self.parser
            .lock()
            .map(|p| p.screen().alternate_screen())
            .unwrap_or(false)
    }

    /// Waits until the screen satisfies `done`; panics with the screen after `PATIENCE`.
    pub fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if start.elapsed() > PATIENCE {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `text` (use "\r" for Enter, "\x1b" for Esc).
    pub fn send(&mut self, text: &str) {
        let w = self.writer.as_mut().expect("terminal still open");
        w.write_all(text.as_bytes()).expect("write to pty");
        w.flush().expect("flush pty");
        // One key at a time, as a person types: a lone Esc is not the start of a sequence.
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Waits as long as a confirmation ignores Enter after appearing (a person reads it).
    pub fn settle(&self) {
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Waits for the program to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.exit_code();
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("pilote did not exit; the screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the terminal, as a dropped SSH connection does: the program gets SIGHUP.
    pub fn hang_up(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.writer = None;
        self.master = None;
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
    }
}
