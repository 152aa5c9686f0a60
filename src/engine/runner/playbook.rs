//! `ansible` steps: a playbook over the action's hosts, one step run per host from its recap.

use super::*;

/// Runs an `ansible` step: the playbook over the domain's hosts not done yet (an earlier
/// attempt, or the run before a resume, may have done some), with one step run per host beside
/// this one, which stands for the playbook as a whole. See [`ansible`] for the files and the
/// reading of the output.
pub(super) async fn ansible_step(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    step: &ExpandedStep,
    position: i64,
    env: &str,
    step_run: i64,
    (playbook, tags): (&str, Option<&str>),
) -> Result<(), StepFailure> {
    let fail = |m: String| ("failed", None, m);
    let written = resolve(ctx, action, env, None, playbook).map_err(fail)?;
    let path = ctx.ws.config_dir.join(&written);
    if !path.is_file() {
        return Err(fail(format!(
            "playbook {} not found (a relative path is taken from the workspace config dir {})",
            path.display(),
            ctx.ws.config_dir.display()
        )));
    }
    let tags = tags
        .map(|t| resolve(ctx, action, env, None, t))
        .transpose()
        .map_err(fail)?;
    let program = ansible::find_program(ansible::PROGRAM).ok_or_else(|| {
        fail(format!(
            "{} is not on PATH: install Ansible on the jump host (Debian: apt install ansible)",
            ansible::PROGRAM
        ))
    })?;
    let domain = action.domain.as_deref().unwrap_or_default();
    let done = lock(&ctx.store)
        .succeeded_steps(ctx.run)
        .map_err(|e| fail(e.to_string()))?;
    let hosts: Vec<&crate::settings::Host> = action
        .hosts
        .iter()
        .filter(|h| !done.contains(&(position, h.to_string())))
        .filter_map(|h| ctx.config.inventory.host(h))
        .collect();
    if hosts.is_empty() {
        ctx.say(
            Some(step_run),
            "",
            "every host of this step is done already",
        );
        return Ok(());
    }
    let ssh = if hosts.iter().any(|h| h.connection == Connection::Ssh) {
        Some(ctx.ssh.as_ref().map_err(|e| fail(e.clone()))?)
    } else {
        None
    };
    let ansible::Prepared {
        dir,
        mut spec,
        control_dir,
    } = ansible::prepare(ansible::Step {
        run: ctx.run,
        step_run,
        program: &program,
        playbook: &path,
        tags: tags.as_deref(),
        group: domain,
        hosts: &hosts,
        ssh,
        vars: ansible::extra_vars(action, ctx.run, &ctx.app, env),
        env: script_env(ctx, action, env, None),
        forks: step.step.parallelism,
        timeout: step.step.timeout,
    })
    .await
    .map_err(fail)?;
    spec.mask = ctx.redactor.clone();

    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    let durable = ctx
        .ws
        .catalog
        .get(&action.automation)
        .is_none_or(|a| a.changes_state);
    let ids =
        lock(&ctx.store).steps_started(ctx.run, position, &action.id, &step.name, &names, durable);
    let ids = ctx.disk.note(ids).map_err(|e| fail(e.to_string()))?;
    ctx.say(
        Some(step_run),
        "",
        format!(
            "{} {written} on {} host(s) of {domain}",
            ansible::PROGRAM,
            names.len()
        ),
    );
    let rows = names.iter().cloned().zip(ids.iter().copied()).collect();
    let (tx, forward) = ansible_output(ctx, step_run, rows, ansible::Watcher::new(names.clone()));
    let outcome = process::run(&spec, tx, ctx.cancel.clone()).await;
    let watcher = forward
        .await
        .unwrap_or_else(|_| ansible::Watcher::new(Vec::new()));
    if let Some(d) = &control_dir {
        ansible::close_masters(d).await;
    }
    drop(dir);

    let ends = ansible::host_ends(&names, &outcome, watcher.recap());
    let finished: Vec<(i64, &str, String)> = ids
        .iter()
        .zip(&ends)
        .map(|(id, e)| (*id, e.state, e.detail.clone()))
        .collect();
    disk::write_or_make_room(&ctx.disk, &mut lock(&ctx.store), |s| {
        s.steps_finished(&finished)
    })
    .map_err(|e| fail(e.to_string()))?;
    let code = match outcome {
        Outcome::Exited { code } => code,
        Outcome::Leaked { code } => {
            ctx.say(
                Some(step_run),
                "",
                "a process left running still held the output; stopped reading it",
            );
            code
        }
        other => return judge(ctx, step, step_run, "", other),
    };
    match ansible::verdict(&ends, code, &watcher, step.step.max_failures)? {
        Some(warning) => ctx.say(
            Some(step_run),
            "",
            format!("step `{}`: {warning}", step.name),
        ),
        None => ctx.say(
            Some(step_run),
            "",
            format!("play recap: {} host(s) succeeded", ends.len()),
        ),
    }
    Ok(())
}

/// Like [`output_to_log`], for ansible's output: each line goes to the step run of the host it
/// is about (the playbook's own when it names none) and through the watcher, which the task
/// returns once the output ends.
pub(super) fn ansible_output(
    ctx: &Arc<Ctx>,
    step_run: i64,
    rows: std::collections::HashMap<String, i64>,
    mut watcher: ansible::Watcher,
) -> (
    mpsc::Sender<(Stream, String)>,
    tokio::task::JoinHandle<ansible::Watcher>,
) {
    let (tx, mut rx) = mpsc::channel::<(Stream, String)>(1024);
    let lines = ctx.lines.clone();
    let backlog = ctx.backlog.clone();
    let forward = tokio::spawn(async move {
        while let Some((stream, line)) = rx.recv().await {
            let host = watcher.see(&line, stream == Stream::Stderr);
            if let Ok(permit) = backlog.acquire().await {
                permit.forget();
            }
            let id = host.as_ref().and_then(|h| rows.get(h)).copied();
            let _ = lines.send(PendingLine {
                at: crate::clock::now_ms(),
                step_run_id: Some(id.unwrap_or(step_run)),
                stream: stream.as_str(),
                host: host.unwrap_or_default(),
                line,
            });
        }
        watcher
    });
    (tx, forward)
}
