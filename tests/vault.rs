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
