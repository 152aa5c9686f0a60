//! How long `pilote plan check` takes on a 200-action plan (the console's plan editor is to
//! re-validate on every pause in typing, so the target is well under 10 ms), next to the floor
//! any validator pays:
//! parsing the same text into a generic TOML table.
//!
//! Run: `cargo bench --bench plan_check`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use pilote::core::SourceFile;
use pilote::core::plan;
use pilote::settings::{self, Located, Origin, Overrides};

const ACTIONS: usize = 200;

/// A 200-action plan cycling through the demo's automations, each with its undo.
fn plan_text() -> String {
    let kinds = [
        ("jboss-stop", "undo = \"jboss-start\"", ""),
        (
            "jboss-deploy-war",
            "undo = \"jboss-restore-war\"",
            "with = { war = \"pets.war\" }",
        ),
        (
            "db-run-script",
            "undo = { uses = \"db-run-script\", with = { script = \"sql/R1.4.0__vaccinations_rollback.sql\" } }",
            "with = { script = \"sql/V${version}__vaccinations.sql\" }",
        ),
        (
            "ds-deploy",
            "undo = \"ds-restore\"",
            "with = { project = \"batch/pets-batch.dsx\", min_free_mb = 20 }",
        ),
        (
            "jboss-backup",
            "undo = \"none\"\nundo_reason = \"backup\"",
            "",
        ),
    ];
    let mut t =
        String::from("app = \"pets\"\nlifecycle = \"standard\"\n[vars]\nversion = \"1.4.0\"\n");
    for i in 0..ACTIONS {
        let (uses, undo, with) = kinds[i % kinds.len()];
        t.push_str(&format!(
            "\n[[actions]]\nid = \"action-{i}\"\ntitle = \"Action number {i}\"\nuses = \"{uses}\"\n{with}\n{undo}\n"
        ));
    }
    t
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let ws = settings::load(
        &Located {
            dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config"),
            origin: Origin::Flag,
        },
        &Overrides::default(),
    )
    .expect("demo config");
    let ctx = ws.plan_context();
    let text = plan_text();
    let file = SourceFile::new("bench.toml", text.clone());
    let (plan, diags) = plan::check(&file, &ctx, None);
    assert!(plan.is_some(), "benchmark plan must be valid:\n{diags}");

    let runs = 200;
    let one_env = vec!["prod".to_string()];
    let all_envs = median(runs, || {
        black_box(plan::check(black_box(&file), &ctx, None));
    });
    let prod_only = median(runs, || {
        black_box(plan::check(black_box(&file), &ctx, Some(&one_env)));
    });
    let parse = median(runs, || {
        black_box(toml::from_str::<toml::Table>(black_box(&text)).expect("toml"));
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "plan check, {ACTIONS} actions, {} bytes, median of {runs} runs:",
        text.len()
    );
    println!(
        "  pilote plan check, 3 envs + rollbacks   {:>8.3} ms",
        ms(all_envs)
    );
    println!(
        "  pilote plan check, 1 env + rollback     {:>8.3} ms",
        ms(prod_only)
    );
    println!(
        "  baseline: toml parse to a table         {:>8.3} ms",
        ms(parse)
    );
    println!(
        "  ratio pilote (3 envs) / baseline        {:>8.2}x   (target: pilote under 10 ms)",
        all_envs.as_secs_f64() / parse.as_secs_f64()
    );
}
