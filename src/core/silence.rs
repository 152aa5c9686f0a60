//! Silence matchers, written as `amtool` writes them (`instance=~"(web-1|web-2)(:[0-9]+)?"`,
//! `app="pets"`), with placeholders for what only the run knows (`${hosts}`, `${app}`...).
//! `integrations::alertmanager` sends them; pilote.toml's `[alertmanager]` is checked with them.

use serde::{Deserialize, Serialize};

/// Placeholders a matcher may use.
pub const PLACEHOLDERS: &[&str] = &["hosts", "addresses", "app", "env", "domain", "run"];

/// The matchers a silence gets when pilote.toml names none: the step's hosts as the
/// `instance` label, with or without a port.
pub const DEFAULT_MATCHERS: &[&str] = &[r#"instance=~"(${hosts})(:[0-9]+)?""#];

/// One matcher of a silence, as the v2 API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    pub is_equal: bool,
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        // Quoted only when it must be, so a regex reads as written (no doubled backslashes).
        let plain = !self.value.is_empty()
            && !self.value.starts_with('"')
            && !self.value.contains(|c: char| c.is_whitespace() || c == ',');
        if plain {
            return write!(f, "{}{op}{}", self.name, self.value);
        }
        let value = self.value.replace('\\', "\\\\").replace('"', "\\\"");
        write!(f, "{}{op}\"{value}\"", self.name)
    }
}

/// Reads `name=value`, `name!=value`, `name=~regex` or `name!~regex`; the value may be in double
/// quotes (then only `\"` and `\\` are escapes). Placeholders are left as they are.
pub fn parse_matcher(text: &str) -> Result<Matcher, String> {
    let t = text.trim();
    let name_len = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(t.len());
    let name = &t[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`{text}` does not start with a label name"));
    }
    let rest = &t[name_len..];
    let (is_equal, is_regex, value) = if let Some(v) = rest.strip_prefix("=~") {
        (true, true, v)
    } else if let Some(v) = rest.strip_prefix("!~") {
        (false, true, v)
    } else if let Some(v) = rest.strip_prefix("!=") {
        (false, false, v)
    } else if let Some(v) = rest.strip_prefix('=') {
        (true, false, v)
    } else {
        return Err(format!(
            "`{text}` has no operator after the label name `{name}`"
        ));
    };
    let value = unquote(value.trim()).ok_or_else(|| format!("`{text}` has an unclosed quote"))?;
    if value.is_empty() && is_equal {
        // Alertmanager refuses a silence every alert would match.
        return Err(format!("`{text}` matches an empty value"));
    }
    Ok(Matcher {
        name: name.to_string(),
        value,
        is_regex,
        is_equal,
    })
}

fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Some(v.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            // Only `\"` and `\\` are escapes: a regex's `\.` stays a regex's `\.`.
            '\\' => match chars.next()? {
                e @ ('"' | '\\') => out.push(e),
                e => {
                    out.push('\\');
                    out.push(e);
                }
            },
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// What a run knows that matchers may name.
pub struct Targets<'a> {
    pub hosts: &'a [String],
    pub addresses: &'a [String],
    pub app: &'a str,
    pub env: &'a str,
    pub domain: &'a str,
    pub run: i64,
}

/// `template` with its placeholders filled in; host lists become regex alternations
/// (`web\-1|web\-2`) in regex matchers and `|`-joined names otherwise.
pub fn fill(template: &Matcher, t: &Targets<'_>) -> Result<Matcher, String> {
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| {
                if template.is_regex {
                    regex::escape(i)
                } else {
                    i.clone()
                }
            })
            .collect::<Vec<_>>()
            .join("|")
    };
    let value = crate::core::value::interpolate(&template.value, |name| match name {
        "hosts" => Some(list(t.hosts)),
        "addresses" => Some(list(t.addresses)),
        "app" => Some(t.app.to_string()),
        "env" => Some(t.env.to_string()),
        "domain" => Some(t.domain.to_string()),
        "run" => Some(t.run.to_string()),
        _ => None,
    })
    .map_err(|n| format!("unknown placeholder `${{{n}}}` in matcher `{template}`"))?;
    Ok(Matcher {
        value,
        ..template.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_read_as_amtool_writes_them() {
        let m = parse_matcher(r#"instance=~"(${hosts})(:[0-9]+)?""#).expect("regex");
        assert_eq!(
            (m.name.as_str(), m.value.as_str(), m.is_regex, m.is_equal),
            ("instance", "(${hosts})(:[0-9]+)?", true, true)
        );
        let m = parse_matcher("app=pets").expect("plain");
        assert_eq!(
            (m.value.as_str(), m.is_regex, m.is_equal),
            ("pets", false, true)
        );
        let m = parse_matcher(r#"severity!="page""#).expect("not equal");
        assert_eq!((m.value.as_str(), m.is_equal), ("page", false));
        let m = parse_matcher(r#"job!~"node.*""#).expect("not regex");
        assert!(m.is_regex && !m.is_equal);
        let m = parse_matcher(r#"msg="say \"hi\"""#).expect("escapes");
        assert_eq!(m.value, r#"say "hi""#);
        assert_eq!(m.to_string(), r#"msg="say \"hi\"""#);
        let m = parse_matcher(r#"instance=~"web\-1|web\-2""#).expect("regex");
        assert_eq!(m.to_string(), r"instance=~web\-1|web\-2");
        assert_eq!(parse_matcher(&m.to_string()), Ok(m));
    }

    #[test]
    fn bad_matchers_say_what_is_wrong() {
        for (text, why) in [
            ("=pets", "does not start with a label name"),
            ("app", "has no operator"),
            ("app~pets", "has no operator"),
            (r#"app="pets"#, "unclosed quote"),
            (r#"app="pe"ts"#, "unclosed quote"),
            ("app=", "matches an empty value"),
        ] {
            let e = parse_matcher(text).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn host_lists_become_escaped_alternations_in_regexes() {
        let hosts = ["web-1.prod".to_string(), "web-2.prod".to_string()];
        let t = Targets {
            hosts: &hosts,
            addresses: &hosts,
            app: "pets",
            env: "prod",
            domain: "war",
            run: 7,
        };
        let regex = parse_matcher(DEFAULT_MATCHERS[0]).expect("default");
        assert_eq!(
            fill(&regex, &t).expect("fill").value,
            r"(web\-1\.prod|web\-2\.prod)(:[0-9]+)?"
        );
        let plain = parse_matcher("pilote_run=${run}-${app}-${env}").expect("plain");
        assert_eq!(fill(&plain, &t).expect("fill").value, "7-pets-prod");
        let bad = parse_matcher("x=${nope}").expect("parses");
        assert!(fill(&bad, &t).expect_err("unknown").contains("${nope}"));
    }
}
