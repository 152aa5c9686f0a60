//! Files shipped inside the binary, so `pilote init` and `pilote demo` work from an installed
//! binary with no checkout beside it. A test checks these lists against the folders on disk.

/// A file to write: its path relative to the target dir, and its bytes.
pub type Embedded = (&'static str, &'static [u8]);

macro_rules! embed {
    ($base:literal: $($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $base, "/", $path)))),*]
    };
}

/// `config/`: the template of `pilote init`.
pub const DEFAULT_WORKSPACE: &[Embedded] = embed!("config":
    "pilote.toml",
    "inventory.toml",
    "lifecycles.toml",
    "automations/README.md",
);

/// `assets/demo/config/`: the pets demo workspace.
pub const DEMO_WORKSPACE: &[Embedded] = embed!("assets/demo/config":
    "pilote.toml",
    "inventory.toml",
    "lifecycles.toml",
    "automations/jboss.toml",
    "automations/database.toml",
    "automations/datastage.toml",
    "plans/pets-1.4.0.toml",
);

/// `assets/demo/release/`: the pets 1.4.0 release, copied into the demo's drop folder.
pub const DEMO_RELEASE: &[Embedded] = embed!("assets/demo/release":
    "pets-1.4.0/pets.war",
    "pets-1.4.0/sql/V1.4.0__vaccinations.sql",
    "pets-1.4.0/sql/R1.4.0__vaccinations_rollback.sql",
    "pets-1.4.0/batch/pets-batch.dsx",
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_on_disk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("readable asset dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                files_on_disk(&path, base, out);
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }

    #[track_caller]
    fn assert_complete(list: &[Embedded], dir: &str) {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut disk = Vec::new();
        files_on_disk(&base, &base, &mut disk);
        let mut embedded: Vec<String> = list.iter().map(|(p, _)| p.to_string()).collect();
        disk.sort();
        embedded.sort();
        assert_eq!(
            embedded, disk,
            "embedded list of {dir} differs from the folder"
        );
    }

    #[test]
    fn every_shipped_file_is_embedded() {
        assert_complete(DEFAULT_WORKSPACE, "config");
        assert_complete(DEMO_WORKSPACE, "assets/demo/config");
        assert_complete(DEMO_RELEASE, "assets/demo/release");
    }
}
