//! Whether the workspace's config has errors, followed while the console is open: fixed or
//! broken since, the header says so at the next refresh (and the keys that act on the
//! config follow). A few `stat`s per refresh; the config is read again only when a file of
//! it changed.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::settings::{self, Located, Overrides};

pub struct ConfigWatch {
    source: (Located, Overrides),
    seen: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

impl ConfigWatch {
    pub fn new(source: (Located, Overrides)) -> Self {
        let seen = files(&source.0);
        Self { source, seen }
    }

    /// `Some(problem)` when the config's files changed since the last call: the first
    /// error of the config as it is now, or `None` when it is sound.
    pub fn changed(&mut self) -> Option<Option<String>> {
        let now = files(&self.source.0);
        if now == self.seen {
            return None;
        }
        self.seen = now;
        Some(
            match settings::load_tolerant(&self.source.0, &self.source.1) {
                Ok(ws) => ws.broken.map(|b| b.headline()),
                Err(e) => Some(e.to_string().lines().next().unwrap_or_default().to_string()),
            },
        )
    }
}

/// The config's files with their size and modification time.
fn files(located: &Located) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let dir = &located.dir;
    let mut paths: Vec<PathBuf> = [
        settings::SETTINGS_FILE,
        settings::INVENTORY_FILE,
        settings::LIFECYCLES_FILE,
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    paths.extend(
        std::fs::read_dir(dir.join(settings::AUTOMATIONS_DIR))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path()),
    );
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (p, size, modified)
        })
        .collect()
}
