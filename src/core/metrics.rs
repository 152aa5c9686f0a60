//! Delivery metrics as pure functions over records read from the history: the four DORA
//! keys and the whitepaper's indicators, their definitions, and the DORA performance band of
//! each. No IO here: `workflow::metrics` reads the records, this turns them into figures.

use serde::Serialize;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// One deploy run that ended, as the indicators need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRecord {
    pub run: i64,
    pub app: String,
    pub env: String,
    /// `succeeded`, `failed`, `cancelled` or `interrupted`.
    pub state: String,
    pub started_at: i64,
    pub finished_at: i64,
    /// A rollback of it succeeded, at this time.
    pub rolled_back_at: Option<i64>,
    /// Its package had succeeded on the env before production (it passed pre-production).
    pub passed_preprod: bool,
}

/// A production deploy that failed or was rolled back, and when service came back: the next
/// successful deploy of the app on the env, or the rollback of it completing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub run: i64,
    pub app: String,
    pub env: String,
    /// When the bad change ended (the deploy finished).
    pub at: i64,
    pub restored_at: Option<i64>,
    /// Why it was rolled back, as the person who started the rollback said (`--reason`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Incident {
    pub fn restore_ms(&self) -> Option<i64> {
        self.restored_at.map(|r| (r - self.at).max(0))
    }
}

/// Median and 90th percentile (nearest rank) of durations in ms, and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub n: usize,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

impl Spread {
    pub fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        let rank = |p: usize| {
            // Nearest rank: the smallest value with at least p% of values at or below it.
            let i = (p * values.len()).div_ceil(100).max(1) - 1;
            values.get(i).copied()
        };
        Self {
            n: values.len(),
            median_ms: rank(50),
            p90_ms: rank(90),
        }
    }
}

/// A rate with its parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Ratio {
    pub part: usize,
    pub whole: usize,
    /// `None` when there is nothing to divide by.
    pub rate: Option<f64>,
}

impl Ratio {
    pub fn of(part: usize, whole: usize) -> Self {
        Self {
            part,
            whole,
            rate: (whole > 0).then(|| part as f64 / whole as f64),
        }
    }
}

/// DORA's performance bands (State of DevOps 2023), for each of the four keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elite => "elite",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    /// Elite: at least daily; high: at least weekly; medium: at least monthly; low: less.
    pub fn of_frequency(per_day: f64) -> Self {
        match per_day {
            f if f >= 1.0 => Self::Elite,
            f if f >= 1.0 / 7.0 => Self::High,
            f if f >= 1.0 / 30.0 => Self::Medium,
            _ => Self::Low,
        }
    }

    /// Elite: under a day; high: under a week; medium: under a month; low: more.
    pub fn of_lead_time(median_ms: i64) -> Self {
        match median_ms {
            t if t < DAY => Self::Elite,
            t if t < 7 * DAY => Self::High,
            t if t < 30 * DAY => Self::Medium,
            _ => Self::Low,
        }
    }

    /// Elite: at most 5%; high: at most 10%; medium: at most 15%; low: more.
    pub fn of_failure_rate(rate: f64) -> Self {
        match rate {
            r if r <= 0.05 => Self::Elite,
            r if r <= 0.10 => Self::High,
            r if r <= 0.15 => Self::Medium,
            _ => Self::Low,
        }
    }

    /// Elite: under an hour; high: under a day; medium: under a week; low: more.
    pub fn of_restore(median_ms: i64) -> Self {
        match median_ms {
            t if t < HOUR => Self::Elite,
            t if t < DAY => Self::High,
            t if t < 7 * DAY => Self::Medium,
            _ => Self::Low,
        }
    }
}

/// One environment's deploys in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnvStats {
    pub env: String,
    pub deploys: usize,
    pub failed: usize,
    pub rolled_back: usize,
    /// How long its deploy runs took (start to end).
    pub cycle: Spread,
    pub failure_rate: Ratio,
}

/// Every indicator over one window and scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Indicators {
    pub since: i64,
    pub until: i64,
    /// The production env the DORA keys are about.
    pub production: String,
    /// Successful production deploys per day over the window.
    pub frequency_per_day: f64,
    /// Successful production deploys per day, oldest day first (for a sparkline).
    pub deploys_per_day: Vec<u64>,
    pub lead_time: Spread,
    /// The median lead time of each week of the window, oldest first (`None`: no release).
    pub lead_time_per_week: Vec<Option<i64>>,
    pub change_failure: Ratio,
    pub restore: Spread,
    pub incidents: Vec<Incident>,
    pub per_env: Vec<EnvStats>,
    pub per_app: Vec<(String, usize)>,
    pub per_domain: Vec<(String, usize)>,
    pub approval_wait: Spread,
    pub escape: Ratio,
}

impl Indicators {
    /// The DORA band of each key, `None` when there is no figure to judge.
    pub fn bands(&self) -> [(&'static str, Option<Band>); 4] {
        [
            (
                "deployment frequency",
                (self.frequency_per_day > 0.0 || self.change_failure.whole > 0)
                    .then(|| Band::of_frequency(self.frequency_per_day)),
            ),
            (
                "lead time",
                self.lead_time.median_ms.map(Band::of_lead_time),
            ),
            (
                "change failure rate",
                self.change_failure.rate.map(Band::of_failure_rate),
            ),
            (
                "time to restore",
                self.restore.median_ms.map(Band::of_restore),
            ),
        ]
    }
}

/// What `compute` needs besides the deploys: read by one query each.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub deploys: Vec<DeployRecord>,
    pub incidents: Vec<Incident>,
    /// (when, how long): request created → its first successful production deploy, in ms.
    pub lead_times: Vec<(i64, i64)>,
    /// Request submitted → an approval, in ms.
    pub approval_waits: Vec<i64>,
    /// Deploys per app domain (each deploy once per domain it ran a step in).
    pub per_domain: Vec<(String, usize)>,
}

/// The median of the values that fell in each week of `[since, until)`.
fn weekly_medians(values: &[(i64, i64)], since: i64, until: i64) -> Vec<Option<i64>> {
    let week = 7 * DAY;
    let weeks =
        usize::try_from(((until - since).max(1) + week - 1) / week).map_or(1, |w| w.clamp(1, 530));
    let mut buckets: Vec<Vec<i64>> = vec![Vec::new(); weeks];
    for (at, v) in values {
        let i = usize::try_from((at - since).div_euclid(week)).unwrap_or(0);
        buckets[i.min(weeks - 1)].push(*v);
    }
    buckets
        .into_iter()
        .map(|b| Spread::of(b).median_ms)
        .collect()
}

/// A change is judged once it succeeded or failed; cancelled and interrupted deploys changed
/// nothing for sure, so they count neither way.
fn counted(d: &DeployRecord) -> bool {
    matches!(d.state.as_str(), "succeeded" | "failed")
}

/// A change failed if its deploy failed or was rolled back.
fn failed(d: &DeployRecord) -> bool {
    d.state == "failed" || d.rolled_back_at.is_some()
}

/// Every indicator from the history of the window `[since, until)`, whose production env is
/// `production`; `envs` in display order.
pub fn compute(
    h: &History,
    since: i64,
    until: i64,
    production: &str,
    envs: &[String],
) -> Indicators {
    let prod: Vec<&DeployRecord> = h.deploys.iter().filter(|d| d.env == production).collect();
    let days = ((until - since) as f64 / DAY as f64).max(1.0 / 24.0);
    let prod_ok = prod.iter().filter(|d| d.state == "succeeded").count();
    // Whole days, the last one partial; at most ten years of bars.
    let day_count =
        usize::try_from(((until - since).max(1) + DAY - 1) / DAY).map_or(1, |d| d.clamp(1, 3660));
    let mut per_day = vec![0u64; day_count];
    for d in prod.iter().filter(|d| d.state == "succeeded") {
        let i = usize::try_from((d.finished_at - since).div_euclid(DAY)).unwrap_or(0);
        per_day[i.min(day_count - 1)] += 1;
    }
    let judged: Vec<&DeployRecord> = prod.iter().copied().filter(|d| counted(d)).collect();
    let change_failure = Ratio::of(judged.iter().filter(|d| failed(d)).count(), judged.len());
    let passed: Vec<&DeployRecord> = judged
        .iter()
        .copied()
        .filter(|d| d.passed_preprod)
        .collect();
    let escape = Ratio::of(passed.iter().filter(|d| failed(d)).count(), passed.len());
    let mut per_env = Vec::new();
    for env in envs {
        let ds: Vec<&DeployRecord> = h.deploys.iter().filter(|d| &d.env == env).collect();
        if ds.is_empty() {
            continue;
        }
        let judged: Vec<&DeployRecord> = ds.iter().copied().filter(|d| counted(d)).collect();
        per_env.push(EnvStats {
            env: env.clone(),
            deploys: ds.len(),
            failed: ds.iter().filter(|d| d.state == "failed").count(),
            rolled_back: ds.iter().filter(|d| d.rolled_back_at.is_some()).count(),
            cycle: Spread::of(ds.iter().map(|d| d.finished_at - d.started_at).collect()),
            failure_rate: Ratio::of(judged.iter().filter(|d| failed(d)).count(), judged.len()),
        });
    }
    let mut per_app: Vec<(String, usize)> = Vec::new();
    for d in &h.deploys {
        match per_app.iter_mut().find(|(a, _)| *a == d.app) {
            Some((_, n)) => *n += 1,
            None => per_app.push((d.app.clone(), 1)),
        }
    }
    per_app.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut per_domain = h.per_domain.clone();
    per_domain.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Indicators {
        since,
        until,
        production: production.to_string(),
        frequency_per_day: prod_ok as f64 / days,
        deploys_per_day: per_day,
        lead_time: Spread::of(h.lead_times.iter().map(|(_, d)| *d).collect()),
        lead_time_per_week: weekly_medians(&h.lead_times, since, until),
        change_failure,
        restore: Spread::of(
            h.incidents
                .iter()
                .filter_map(Incident::restore_ms)
                .collect(),
        ),
        incidents: h.incidents.clone(),
        per_env,
        per_app,
        per_domain,
        approval_wait: Spread::of(h.approval_waits.clone()),
        escape,
    }
}

/// The definitions, as `pilote metrics --explain` prints them and docs/integrations.md gives them.
pub const EXPLAIN: &str = "\
Every indicator is computed over a window (--since, default 30d, up to now) and a scope
(--app, --env). Production is the last environment of the inventory. Deploy runs count
where they ended (finished inside the window); cancelled and interrupted deploys are not
counted as changes.

deployment frequency   successful production deploys per day.
                       DORA: elite >= 1/day, high >= 1/week, medium >= 1/month, low below.
lead time              request created -> its first successful production deploy (median, p90).
                       DORA: elite < 1 day, high < 1 week, medium < 1 month, low above.
change failure rate    production deploys that failed or were rolled back / production
                       deploys that succeeded or failed.
                       DORA: elite <= 5%, high <= 10%, medium <= 15%, low above.
time to restore        a failed or rolled-back production deploy -> the next successful
                       deploy or rollback of that app on that env
                       (median, p90; incidents not restored yet are listed, not counted).
                       DORA: elite < 1 hour, high < 1 day, medium < 1 week, low above.
cycle duration         start -> end of the deploy runs of each env (median, p90).
failure rate per env   deploys that failed or were rolled back / deploys that succeeded
                       or failed, on that env; with the count of rollbacks.
deployments per app    deploy runs of each app, every env; per domain: of each app domain
                       whose hosts the deploy ran steps on.
approval wait          request submitted -> each approval (median, p90).
escape rate            production deploys of a package that had succeeded on the env before
                       production, which then failed or were rolled back / those deploys.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Spread::of(vec![5, 1, 4, 2, 3, 6, 7, 8, 9, 10]);
        assert_eq!((s.n, s.median_ms, s.p90_ms), (10, Some(5), Some(9)));
        let one = Spread::of(vec![42]);
        assert_eq!((one.median_ms, one.p90_ms), (Some(42), Some(42)));
        assert_eq!(Spread::of(Vec::new()).median_ms, None);
    }

    #[test]
    fn bands_at_their_edges() {
        assert_eq!(Band::of_frequency(1.0), Band::Elite);
        assert_eq!(Band::of_frequency(1.0 / 7.0), Band::High);
        assert_eq!(Band::of_frequency(0.01), Band::Low);
        assert_eq!(Band::of_lead_time(DAY - 1), Band::Elite);
        assert_eq!(Band::of_lead_time(DAY), Band::High);
        assert_eq!(Band::of_failure_rate(0.05), Band::Elite);
        assert_eq!(Band::of_failure_rate(0.151), Band::Low);
        assert_eq!(Band::of_restore(HOUR), Band::High);
    }
}
