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
    let drop = crate::vault::drop::dir(ws);
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

/// A made-up past for the demo's dashboards: `months` of pets releases through uat, preprod
/// and prod (hotfixes straight to preprod and prod), with the failures, rollbacks and
/// retries a real team has. The same every time (a fixed pseudo-random sequence), ending
/// now. Returns (requests, runs) written.
pub fn seed_history(
    ws: &Workspace,
    store: &mut crate::store::Store,
    months: u32,
) -> Result<(usize, usize)> {
    use crate::store::{PastRequest, PastRun};
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let now = crate::clock::now_ms();
    let mut t = now - i64::from(months) * 30 * DAY;
    let mut rng = Lcg(0x5eed_1e55);
    let hosts = |env: &str| -> Vec<String> {
        let Some(app) = ws.inventory.apps.iter().find(|a| a.name == "pets") else {
            return Vec::new();
        };
        app.domains
            .iter()
            .flat_map(|d| ws.inventory.hosts_of("pets", env, &d.name))
            .cloned()
            .collect()
    };
    let mut requests = Vec::new();
    // (sort key, run, key of the run it rolls back)
    let mut runs: Vec<(i64, PastRun, Option<i64>)> = Vec::new();
    let mut minor = 0;
    // A release takes up to about ten days from filing to production: the last one is filed
    // early enough to have ended before now.
    while t < now - 14 * DAY {
        minor += 1;
        let hotfix = rng.below(100) < 15;
        let version = if hotfix {
            format!("2.{minor}.1")
        } else {
            format!("2.{minor}.0")
        };
        let digest = format!("seeded-{version}");
        let created = t + 9 * HOUR + rng.below(8) * HOUR;
        let submitted = created + (1 + rng.below(4)) * HOUR;
        let request = requests.len();
        let mut approvals = Vec::new();
        let mut at = submitted;
        let deploy = |rng: &mut Lcg,
                      env: &str,
                      at: i64,
                      ok_pct: i64,
                      runs: &mut Vec<(i64, PastRun, Option<i64>)>| {
            let took = (4 + rng.below(12)) * MIN;
            let ok = rng.below(100) < ok_pct;
            let key = at;
            runs.push((
                key,
                PastRun {
                    kind: "deploy",
                    env: env.to_string(),
                    state: if ok { "succeeded" } else { "failed" },
                    request: Some(request),
                    rollback_of: None,
                    started_at: at,
                    finished_at: at + took,
                    package_digest: digest.clone(),
                    hosts: hosts(env),
                },
                None,
            ));
            (ok, at + took, key)
        };
        let mut state = "deployed";
        let stages: &[&str] = if hotfix {
            &["preprod", "prod"]
        } else {
            &["uat", "preprod", "prod"]
        };
        for env in stages {
            if *env != "uat" {
                // Someone of the change board approves within hours (or a day or two).
                at += (2 + rng.below(30)) * HOUR;
                let who = if *env == "prod" { "bob" } else { "alice" };
                approvals.push(((*env).to_string(), who.to_string(), at));
            }
            at += (1 + rng.below(if hotfix { 3 } else { 36 })) * HOUR;
            let ok_pct = if *env == "prod" { 88 } else { 93 };
            let (mut ok, mut end, mut key) = deploy(&mut rng, env, at, ok_pct, &mut runs);
            if !ok && *env != "prod" {
                // Fixed and deployed again the next day.
                at = end + DAY;
                (ok, end, key) = deploy(&mut rng, env, at, 100, &mut runs);
            }
            at = end;
            if *env == "prod" {
                let bad = !ok || rng.below(100) < 9;
                if bad {
                    // Rolled back within minutes to hours: the incident ends with it.
                    let start = end + (10 + rng.below(170)) * MIN;
                    runs.push((
                        start,
                        PastRun {
                            kind: "rollback",
                            env: "prod".into(),
                            state: "succeeded",
                            request: Some(request),
                            rollback_of: None,
                            started_at: start,
                            finished_at: start + 6 * MIN,
                            package_digest: digest.clone(),
                            hosts: hosts("prod"),
                        },
                        Some(key),
                    ));
                    state = if ok { "rolled_back" } else { "failed" };
                }
            }
            let _ = ok;
        }
        requests.push(PastRequest {
            version,
            lifecycle: if hotfix { "hotfix" } else { "standard" }.into(),
            created_at: created,
            submitted_at: submitted,
            state: state.into(),
            approvals,
        });
        t += (2 + rng.below(4)) * DAY;
    }
    // The whole past slides so that its last run ended an hour ago: the last release's
    // uat, preprod and prod deploys fall in the last days, and a 7-day window holds runs
    // (the loop stops a fortnight short of now, so unmoved it would end about then).
    let last = runs
        .iter()
        .map(|(_, r, _)| r.finished_at)
        .max()
        .unwrap_or(now);
    let shift = now - HOUR - last;
    for r in &mut requests {
        r.created_at += shift;
        r.submitted_at += shift;
        for (_, _, at) in &mut r.approvals {
            *at += shift;
        }
    }
    for (_, r, _) in &mut runs {
        r.started_at += shift;
        r.finished_at += shift;
    }
    // Runs in time order, each rollback pointing at the deploy it undid (keys are unique:
    // two deploys never start at the same millisecond here, they are hours apart).
    runs.sort_by_key(|(_, r, _)| r.started_at);
    let keys: Vec<i64> = runs.iter().map(|(k, _, _)| *k).collect();
    let past: Vec<PastRun> = runs
        .into_iter()
        .map(|(_, mut r, of)| {
            r.rollback_of = of.and_then(|k| keys.iter().position(|x| *x == k));
            r
        })
        .collect();
    let plan = std::fs::read_to_string(ws.config_dir.join("plans/pets-1.4.0.toml"))
        .unwrap_or_else(|_| "app = \"pets\"\n".into());
    store.seed_history(
        "pets",
        &plan,
        &requests,
        &past,
        &ws.catalog_digest,
        &crate::identity::Actor::current(),
    )?;
    Ok((requests.len(), past.len()))
}

/// A linear congruential generator: no dependency, and the same history on every machine.
struct Lcg(u64);

impl Lcg {
    /// A number in `0..n`.
    fn below(&mut self, n: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        i64::try_from((self.0 >> 33) % n.max(1).unsigned_abs()).unwrap_or(0)
    }
}
