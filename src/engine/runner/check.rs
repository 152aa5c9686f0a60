//! `http` steps: probes of a URL, checked and measured.

use super::*;

/// Runs an http step's probes and records what they measured with the run.
pub(super) async fn http_check(
    ctx: &Arc<Ctx>,
    action: &ExpandedAction,
    step: &ExpandedStep,
    env: &str,
    step_run: i64,
) -> Result<(), StepFailure> {
    let StepAction::Http {
        method,
        url,
        expect_status,
        expect_body,
        max_latency,
        probes,
        headers,
        basic_auth,
    } = &step.step.action
    else {
        return Err(("failed", None, "not an http step".into()));
    };
    let fail = |e| ("failed", None, e);
    // The request gets the secrets' values; whatever is shown or stored gets `shown`.
    let url = reveal(ctx, action, env, url).map_err(fail)?;
    // Secrets first: one given in the URL unescaped may hold a `&` that splits a parameter.
    let shown = crate::core::url::mask_credentials(&redacted(ctx, &url));
    let headers = headers
        .iter()
        .map(|(name, value)| Ok((name.clone(), reveal(ctx, action, env, value)?)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(fail)?;
    let basic_auth = basic_auth
        .as_ref()
        .map(|b| {
            Ok::<_, String>((
                reveal(ctx, action, env, &b.user)?,
                reveal(ctx, action, env, &b.password)?,
            ))
        })
        .transpose()
        .map_err(fail)?;
    let check = crate::engine::http::Check {
        method,
        url: &url,
        shown_url: &shown,
        headers: &headers,
        basic_auth: basic_auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        expect_status: *expect_status,
        expect_body: expect_body.as_deref(),
        max_latency: *max_latency,
        probes: *probes,
        connect_timeout: HTTP_CONNECT_TIMEOUT.min(step.step.timeout),
        timeout: HTTP_PROBE_TIMEOUT.min(step.step.timeout),
        interval: HTTP_PROBE_INTERVAL,
    };
    let on_probe = |i: usize, p: &crate::engine::http::Probe| {
        ctx.say(
            Some(step_run),
            "",
            format!(
                "probe {}/{probes}: {} in {} ms{}",
                i + 1,
                p.status
                    .map_or_else(|| "no answer".to_string(), |s| s.to_string()),
                p.latency.as_millis(),
                p.problem
                    .as_ref()
                    .map_or_else(String::new, |why| format!(" ({why})")),
            ),
        );
    };
    let report = match tokio::time::timeout(
        step.step.timeout,
        crate::engine::http::run(&check, on_probe, ctx.cancel.clone()),
    )
    .await
    {
        Err(_) => {
            return Err((
                "timed_out",
                None,
                format!(
                    "timed out after {}",
                    crate::core::duration::format(step.step.timeout)
                ),
            ));
        }
        Ok(Err(e)) if e == "cancelled" => return Err(("cancelled", None, e)),
        Ok(Err(e)) => return Err(fail(e)),
        Ok(Ok(r)) => r,
    };
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let ok = report.probes.iter().filter(|p| p.ok).count();
    let recorded = lock(&ctx.store).record_http_check(
        step_run,
        &crate::store::HttpCheck {
            url: shown.clone(),
            probes: *probes,
            ok: u32::try_from(ok).unwrap_or(u32::MAX),
            p50_ms: ms(report.p50),
            p95_ms: ms(report.p95),
            availability: report.availability,
        },
    );
    // The measures are not the step's outcome: without room for them the step still ends.
    let _ = ctx.disk.note(recorded);
    let summary = format!("{method} {shown}: {}", report.summary());
    ctx.say(Some(step_run), "", summary.clone());
    if report.passed() {
        Ok(())
    } else {
        let why = report
            .probes
            .iter()
            .find_map(|p| p.problem.clone())
            .unwrap_or_default();
        Err(("failed", None, format!("{summary}; {why}")))
    }
}

/// http steps: time to connect, time for one probe, pause between probes.
const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const HTTP_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP_PROBE_INTERVAL: Duration = Duration::from_millis(250);
