//! Wall-clock time as stored: UTC milliseconds since the epoch.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A stored time as local wall-clock text (`2026-11-23 14:05:09`), for people.
pub fn format_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            // Looked up once: `logs` formats every line, and the lookup reads zoneinfo.
            static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
            t.to_zoned(ZONE.get_or_init(jiff::tz::TimeZone::system).clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| ms.to_string())
}

/// A local "YYYY-MM-DD" (its start; with `end`, the start of the next day) or
/// "YYYY-MM-DD HH:MM" as UTC milliseconds.
pub fn parse_local_bound(text: &str, end: bool) -> Option<i64> {
    let tz = jiff::tz::TimeZone::system();
    let t = text.trim();
    // A time, when there is one (jiff would read the date of a date-time as a date).
    let dt = if t.contains(':') {
        t.replacen(' ', "T", 1)
            .parse::<jiff::civil::DateTime>()
            .ok()?
    } else {
        let d = t.parse::<jiff::civil::Date>().ok()?;
        let d = if end { d.tomorrow().ok()? } else { d };
        d.to_datetime(jiff::civil::Time::midnight())
    };
    Some(dt.to_zoned(tz).ok()?.timestamp().as_millisecond())
}

/// A local date or date-time (see [`parse_local_bound`]) at its start.
pub fn parse_local(text: &str) -> Option<i64> {
    parse_local_bound(text, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_dates_and_times() {
        let day = parse_local("2030-01-15").expect("date");
        let evening = parse_local("2030-01-15 22:00").expect("date-time");
        assert_eq!(evening - day, 22 * 3_600_000);
        assert_eq!(
            parse_local_bound("2030-01-15", true).expect("end") - day,
            24 * 3_600_000
        );
        assert_eq!(parse_local("2030-01-15T22:00"), Some(evening));
        assert_eq!(parse_local("15/01/2030"), None);
        assert_eq!(parse_local("2030-02-30"), None);
    }
}
