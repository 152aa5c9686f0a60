//! Properties of plan checking and rollback derivation, over generated inputs.

use std::path::Path;

use pilote::core::plan::{self, Context};
use pilote::core::{SourceFile, rollback};
use pilote::settings::{self, Located, Origin, Overrides, Workspace};
use proptest::prelude::*;

fn demo() -> Workspace {
    settings::load(
        &Located {
            dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config"),
            origin: Origin::Flag,
        },
        &Overrides::default(),
    )
    .expect("demo config loads")
}

fn ctx(ws: &Workspace) -> Context<'_> {
    ws.plan_context()
}

/// How a generated action is undone.
#[derive(Debug, Clone, Copy)]
enum UndoKind {
    Run,
    Nothing,
    Undeclared,
}

fn undo_kind() -> impl Strategy<Value = UndoKind> {
    prop_oneof![
        Just(UndoKind::Run),
        Just(UndoKind::Nothing),
        Just(UndoKind::Undeclared)
    ]
}

/// A linear plan (no phases) of actions with the given undo kinds.
fn plan_text(undos: &[UndoKind]) -> String {
    let mut text = String::from("app = \"pets\"\n");
    for (i, u) in undos.iter().enumerate() {
        text.push_str(&format!(
            "\n[[actions]]\nid = \"a{i}\"\ntitle = \"action {i}\"\n"
        ));
        match u {
            UndoKind::Run => text.push_str("uses = \"jboss-stop\"\nundo = \"jboss-start\"\n"),
            UndoKind::Nothing => text.push_str("uses = \"jboss-backup\"\nundo = \"none\"\n"),
            UndoKind::Undeclared => text.push_str("uses = \"db-backup\"\n"),
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The rollback of a run that started actions 1..=k is exactly the undos of those actions
    /// that declare one, in reverse order; and the plan with its rollback validates.
    #[test]
    fn rollback_undoes_started_actions_in_reverse(undos in prop::collection::vec(undo_kind(), 1..24), k in 0usize..24) {
        let ws = demo();
        let file = SourceFile::new("gen.toml", plan_text(&undos));
        let (checked, diags) = plan::check(&file, &ctx(&ws), None);
        prop_assert!(!diags.has_errors(), "{}", diags);
        let plan = checked.expect("valid plan");
        let k = k.min(undos.len());
        let started: Vec<bool> = (0..undos.len()).map(|i| i < k).collect();
        let rb = rollback::derive(&plan, Some(&started));
        let got: Vec<&str> = rb.actions.iter().map(|a| a.id.as_str()).collect();
        let want: Vec<String> = (0..k)
            .rev()
            .filter(|&i| matches!(undos[i], UndoKind::Run))
            .map(|i| format!("undo-a{i}"))
            .collect();
        prop_assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert!(rb.actions.iter().all(|a| a.uses == "jboss-start"));
        // The rollback runs one action at a time, in the order listed.
        prop_assert_eq!(rb.batches.len(), rb.actions.len());
    }

    /// Whatever bytes a plan file holds, checking it returns diagnostics, never panics.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let ws = demo();
        let file = SourceFile::new("fuzz.toml", String::from_utf8_lossy(&bytes).into_owned());
        let _ = plan::check(&file, &ctx(&ws), None);
    }

    /// Plan-shaped text with random values: errors or a plan, never a panic.
    #[test]
    fn plan_shaped_text_never_panics(
        app in "[a-z$\\{\\}\"]{0,8}",
        uses in "[a-z-]{0,12}",
        with in "[a-z_]{1,6} = (\"[^\"\\\\]{0,12}\"|[0-9]{1,4}|\\{ env = \"[A-Z]{0,4}\" \\})",
        undo in "(\"none\"|\"[a-z-]{0,12}\"|\\{ uses = \"[a-z-]{0,12}\" \\}|[0-9])",
        phase in "[a-z]{0,4}",
    ) {
        let ws = demo();
        let text = format!(
            "app = \"{app}\"\n[[phases]]\nid = \"{phase}\"\nafter = [\"{phase}\"]\n[[actions]]\nid = \"x\"\ntitle = \"t\"\nuses = \"{uses}\"\nwith = {{ {with} }}\nundo = {undo}\nphase = \"{phase}\"\n"
        );
        let file = SourceFile::new("gen.toml", text);
        let _ = plan::check(&file, &ctx(&ws), None);
    }
}
