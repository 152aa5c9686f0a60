//! The pets demo's sandbox: stand-ins for the servers, as directories in the data dir.
//!
//! Each host of the demo inventory gets `<data dir>/sandbox/<env>/<host>/`, laid out like the
//! real thing for its domain and holding release 1.3.0, the one "in production" before the
//! demo's 1.4.0 request: a JBoss instance (`deployments/pets.war`, a `running` marker), a
//! database (an SQLite file with a `schema_history` table), a DataStage project dir.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::settings::Workspace;
use crate::setup;

/// Where the demo's hosts live.
pub fn sandbox_dir(ws: &Workspace) -> PathBuf {
    ws.data_dir.join("sandbox")
}

/// Where the demo's release files wait to be imported into the vault.
pub fn drop_dir(ws: &Workspace) -> PathBuf {
    ws.data_dir.join("drop")
}

/// Creates whatever part of the sandbox and drop folder is missing; leaves existing files as
/// they are, so a demo that was played with keeps its state until `--reset`.
pub fn prepare(ws: &Workspace) -> Result<()> {
    let sandbox = sandbox_dir(ws);
    for env in &ws.inventory.envs {
        for app in &env.apps {
            for d in &app.domains {
                for host in &d.hosts {
                    let dir = sandbox.join(&env.name).join(host);
                    if dir.exists() {
                        continue;
                    }
                    create_host(&dir, &d.domain)?;
                }
            }
        }
    }
    let drop = drop_dir(ws);
    for (rel, bytes) in setup::demo_release() {
        let path = drop.join(&rel);
        if path.exists() {
            continue;
        }
        write(&path, &bytes)?;
    }
    Ok(())
}

fn create_host(dir: &Path, domain: &str) -> Result<()> {
    match domain {
        "war" => {
            write(
                &dir.join("deployments/pets.war"),
                b"pets web application 1.3.0\nImplementation-Version: 1.3.0\n",
            )?;
            write(
                &dir.join("configuration/standalone.xml"),
                b"<server xmlns=\"urn:jboss:domain:20.0\"><!-- demo instance --></server>\n",
            )?;
            write(&dir.join("running"), b"1.3.0\n")?;
            fs::create_dir_all(dir.join("backup")).map_err(io(dir))?;
        }
        "sql" => {
            fs::create_dir_all(dir).map_err(io(dir))?;
            create_database(&dir.join("pets.db"))?;
            fs::create_dir_all(dir.join("backup")).map_err(io(dir))?;
        }
        "batch" => {
            write(
                &dir.join("projects/pets-batch/pets-batch.dsx"),
                b"BEGIN DSJOB\n   Identifier \"VaccinationReminders\"\n   Version \"1.3.0\"\nEND DSJOB\n",
            )?;
            fs::create_dir_all(dir.join("backup")).map_err(io(dir))?;
        }
        _ => fs::create_dir_all(dir).map_err(io(dir))?,
    }
    Ok(())
}

/// The demo's "database server": an SQLite file at schema 1.3.0. Not the pilote store.
fn create_database(path: &Path) -> Result<()> {
    let conn = rusqlite::Connection::open(path).map_err(|e| sql(path, e))?;
    conn.execute_batch(
        "CREATE TABLE schema_history (version TEXT PRIMARY KEY, description TEXT NOT NULL);
         CREATE TABLE pet (id INTEGER PRIMARY KEY, name TEXT NOT NULL, species TEXT NOT NULL);
         INSERT INTO schema_history VALUES ('1.3.0', 'pets and owners');
         INSERT INTO pet (name, species) VALUES ('Rex', 'dog'), ('Minou', 'cat'), ('Bubulle', 'fish');",
    )
    .map_err(|e| sql(path, e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    fs::write(path, bytes).map_err(io(path))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(format!("cannot write {}", path.display()))(e)
}

fn sql(path: &Path, e: rusqlite::Error) -> Error {
    Error::io(format!(
        "cannot create the demo database {}",
        path.display()
    ))(std::io::Error::other(e))
}
