//! `copy` steps: an artifact of the run's package to each host, its digest checked on both
//! sides.

use super::*;

/// Copies an artifact of the run's package to a host: its SHA-256 checked against the
/// digest recorded when the run was created before sending, and on the target after.
/// `at`: (env, host, step run); `what`: (artifact parameter, destination, mode).
pub(super) async fn copy(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    step: &ExpandedStep,
    at: (&str, Option<&str>, i64),
    what: (&str, &str, u32),
) -> Result<(), StepFailure> {
    let (env, host, step_run) = at;
    let (artifact, dest, mode) = what;
    let host_name = host.unwrap_or("");
    let fail = |m: String| ("failed", None, m);
    let Some(package) = &ctx.package else {
        return Err(fail(
            "this run has no package; start it with --release VERSION or --package DIR".into(),
        ));
    };
    let rel = action
        .params
        .iter()
        .find(|p| p.name == artifact)
        .map(|p| p.value.to_string())
        .ok_or_else(|| fail(format!("no artifact parameter `{artifact}`")))?;
    let Some(recorded) = ctx.artifacts.iter().find(|a| a.path == rel) else {
        return Err(fail(format!(
            "`{rel}` is not in the package this run was created with"
        )));
    };
    let expected = recorded.sha256.clone();
    let source = match package {
        Source::Dir(dir) => dir.join(&rel),
        Source::Vault(vault) => vault.blob(&expected),
    };
    let h = host.and_then(|h| ctx.config.inventory.host(h));
    let target = resolve(ctx, action, env, host, dest).map_err(fail)?;
    // A plan's values fill the destination in: one with `..` in it would send the artifact
    // out of the directory the automation names (from uat's host dir into prod's).
    if std::path::Path::new(&target)
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(fail(format!(
            "the destination {target} climbs with `..`: a copy goes where its automation says, \
             whatever a plan's values are"
        )));
    }

    // Hashing a big package blocks: keep it off the async workers.
    let hashed = {
        let path = source.clone();
        tokio::task::spawn_blocking(move || crate::vault::sha256_file(&path))
            .await
            .map_err(|e| fail(format!("hashing task failed: {e}")))?
            .map_err(|e| fail(format!("cannot read {}: {e}", source.display())))?
            .0
    };
    if hashed != expected {
        return Err(fail(format!(
            "{rel} changed since run #{} was created: recorded sha256 {expected}, found {hashed}; not sent",
            ctx.run
        )));
    }

    if let Some(h) = h.filter(|h| h.connection == Connection::Ssh) {
        let ssh = ctx.ssh.as_ref().map_err(|e| fail(e.clone()))?;
        let target_host = ssh::Target::from(h);
        let (tx, forward) = output_to_log(ctx, step_run, host_name);
        let (tx, forward) = connect(ctx, ssh, &target_host, tx, forward).await?;
        let spec = Spec {
            mask: ctx.redactor.clone(),
            ..ssh.upload(
                &target_host,
                &source,
                (&target, mode),
                &expected,
                step.step.timeout,
            )
        };
        let outcome = process::run(&spec, tx, ctx.cancel.clone()).await;
        let _ = forward.await;
        if outcome
            == (Outcome::Exited {
                code: ssh::DIGEST_MISMATCH,
            })
        {
            return Err((
                "failed",
                Some(ssh::DIGEST_MISMATCH),
                format!("the copy of {rel} on {host_name} does not match its digest (see the log)"),
            ));
        }
        if outcome
            == (Outcome::Exited {
                code: ssh::SSH_FAILED,
            })
        {
            return Err(lost(ssh, &target_host, host_name).await);
        }
        judge(ctx, step, step_run, host_name, outcome)?;
    } else {
        // As the account steps run as (the executor's, in a team's workspace): a process
        // of pilote's own that reads the blob on stdin (see `engine/local_copy.rs`).
        let program = std::env::current_exe()
            .map_err(|e| fail(format!("cannot find the pilote binary: {e}")))?;
        let spec = Spec {
            program,
            args: vec![
                "__copy".into(),
                target.clone().into(),
                format!("{mode:04o}").into(),
                expected.clone().into(),
            ],
            input: process::Input::File(source.clone()),
            env: Vec::new(),
            cwd: None,
            timeout: step.step.timeout,
            grace: Duration::from_secs(5),
            leak_timeout: Duration::from_secs(2),
            mask: ctx.redactor.clone(),
        };
        let (tx, forward) = output_to_log(ctx, step_run, host_name);
        let outcome = process::run(&spec, tx, ctx.cancel.clone()).await;
        let _ = forward.await;
        if outcome
            == (Outcome::Exited {
                code: crate::engine::local_copy::DIGEST_MISMATCH,
            })
        {
            return Err((
                "failed",
                Some(crate::engine::local_copy::DIGEST_MISMATCH),
                format!("the copy of {rel} on {host_name} does not match its digest (see the log)"),
            ));
        }
        judge(ctx, step, step_run, host_name, outcome)?;
    }
    ctx.say(
        Some(step_run),
        host_name,
        format!("copied {rel} (sha256 {expected}) to {target}"),
    );
    Ok(())
}
