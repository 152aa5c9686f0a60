//! Durations as people write them in plans: `500ms`, `30s`, `5m`, `1h30m`.

use std::time::Duration;

/// Parses `1h30m`, `45s`, `250ms`; units ms, s, m, h, d. A bare number is refused: `30` could
/// mean seconds or minutes, and a deploy timeout off by 60x is a real incident.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{t}` is not a duration"));
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{t}` is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{t}` has no unit")),
            other => return Err(format!("unknown unit `{other}` in `{t}`")),
        };
        rest = &rest[unit_len..];
        total = total
            .checked_add(
                n.checked_mul(ms_per)
                    .ok_or_else(|| format!("`{t}` is too large"))?,
            )
            .ok_or_else(|| format!("`{t}` is too large"))?;
    }
    let ms = u64::try_from(total).map_err(|_| format!("`{t}` is too large"))?;
    Ok(Duration::from_millis(ms))
}

/// Serializes as `format` writes it, for `--json` output.
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// Formats a duration the way `parse` reads it, largest units first (`1h30m`, `250ms`).
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A measured duration (a run, a step, a lead time) for a person: three significant figures
/// at most, two units at most (`40ms`, `9.9s`, `20.0s`, `1m08s`, `1h02m`, `2d03h`, `10m`),
/// rounded to the last figure shown. Not for what a person wrote (a timeout): `format` keeps those
/// exact and readable back by `parse`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    // Each unit is rounded before it is compared, so 59.96 s is `1m`, never `60.0s`.
    let round = |unit: u128| (ms + unit / 2) / unit;
    if ms < 100 {
        return format!("{ms}ms");
    }
    let tenths = round(100);
    if tenths < 600 {
        return format!("{}.{}s", tenths / 10, tenths % 10);
    }
    // A second unit that is zero says nothing: `10m`, not `10m00s`.
    let two = |big: u128, unit: char, small: u128, sub: char| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small:02}{sub}")
        }
    };
    let secs = round(1_000);
    if secs < 3_600 {
        return two(secs / 60, 'm', secs % 60, 's');
    }
    let mins = round(60_000);
    if mins < 1_440 {
        return two(mins / 60, 'h', mins % 60, 'm');
    }
    let hours = round(3_600_000);
    two(hours / 24, 'd', hours % 24, 'h')
}

/// `human` of a span in milliseconds as the store keeps them; a negative one (a clock set
/// back) is none.
pub fn human_ms(ms: i64) -> String {
    human(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// What `parse` accepts, for error messages.
pub const EXPECTED: &str = "a duration such as `500ms`, `30s`, `5m` or `1h30m`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse("30").is_err());
        assert!(parse("5 minutes").is_err());
        assert!(parse("s").is_err());
        assert!(parse("99999999999999999999999999999999999999d").is_err());
    }

    #[test]
    fn format_round_trips() {
        for text in ["250ms", "1h30m", "45s", "1d2h3m4s5ms"] {
            let d = parse(text).expect("valid");
            assert_eq!(format(d), text);
        }
    }

    #[test]
    fn human_rounds_to_three_figures_and_two_units() {
        let ms = Duration::from_millis;
        for (d, text) in [
            (ms(0), "0ms"),
            (ms(40), "40ms"),
            (ms(99), "99ms"),
            (ms(400), "0.4s"),
            (ms(9_949), "9.9s"),
            (ms(19_997), "20.0s"),
            (ms(59_960), "1m"),
            (ms(600_000), "10m"),
            (ms(68_058), "1m08s"),
            (ms(3_599_600), "1h"),
            (ms(3_720_000), "1h02m"),
            (ms(86_399_000), "1d"),
            (ms(185_000_000), "2d03h"),
        ] {
            assert_eq!(human(d), text, "{d:?}");
        }
        assert_eq!(human_ms(-5), "0ms");
    }
}
