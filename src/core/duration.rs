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
}
