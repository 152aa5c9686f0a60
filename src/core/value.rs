//! Parameter types and values: what an automation accepts and what a plan gives it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

/// Whether `name` can name an environment variable (and a shell variable):
/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The type of an automation parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    /// A path on the target hosts.
    Path,
    /// A file of the release package, by its path inside the package (`sql/V1.sql`).
    Artifact,
    /// A reference to a secret: `{ env = "NAME" }` or `{ file = "/path" }`, never the value.
    Secret,
    Integer,
    Duration,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Path => "path",
            Self::Artifact => "artifact",
            Self::Secret => "secret",
            Self::Integer => "integer",
            Self::Duration => "duration",
        }
    }
}

/// Where a secret's value is read from at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretRef {
    Env(String),
    File(String),
}

/// The fewest characters a secret's value may have: a shorter one could not be masked in
/// output without masking ordinary words, so a run with one does not start.
pub const MIN_SECRET_CHARS: usize = 6;

/// Why `value`, read for secret parameter `name` (from `origin`: "environment variable X",
/// "/path"), cannot be used: empty or too short to be masked. Never shows the value.
pub fn unusable_secret(name: &str, origin: &str, value: &str) -> Option<String> {
    let n = value.chars().count();
    let what = if n == 0 {
        "is empty".to_string()
    } else if n < MIN_SECRET_CHARS {
        format!("has {n} character{}", if n == 1 { "" } else { "s" })
    } else {
        return None;
    };
    Some(format!(
        "secret `{name}` ({origin}) {what}: a secret needs at least {MIN_SECRET_CHARS}, or \
         masking it in the output would mask ordinary words too"
    ))
}

/// A parameter value after type checking. Secrets stay references until a runner reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    Integer(i64),
    Duration(#[serde(serialize_with = "ser_duration")] Duration),
    Secret(SecretRef),
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration::format(*d))
}

impl fmt::Display for Value {
    /// The redacted rendering: a secret shows where it comes from, never its value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(s) => write!(f, "{s}"),
            Self::Integer(n) => write!(f, "{n}"),
            Self::Duration(d) => write!(f, "{}", duration::format(*d)),
            Self::Secret(SecretRef::Env(name)) => write!(f, "<secret from env {name}>"),
            Self::Secret(SecretRef::File(path)) => write!(f, "<secret from file {path}>"),
        }
    }
}

/// Why a TOML value does not fit a parameter type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMismatch {
    pub message: String,
    pub expected: String,
}

/// Checks a literal TOML value against `ty`. Strings are taken as they are: `${...}`
/// placeholders are resolved later, at expansion, and typed again then.
pub fn typed(ty: ParamType, v: &toml::Value) -> Result<Value, TypeMismatch> {
    let mismatch = |expected: &str| TypeMismatch {
        message: format!(
            "expected a value of type {}, found {}",
            ty.as_str(),
            describe(v)
        ),
        expected: expected.to_string(),
    };
    match (ty, v) {
        (ParamType::Secret, toml::Value::String(_)) => Err(TypeMismatch {
            message: "a secret is written inline; secrets are given by reference only".into(),
            expected: "`{ env = \"VAR_NAME\" }` or `{ file = \"/path/to/secret\" }`".into(),
        }),
        (ParamType::Secret, toml::Value::Table(t)) => {
            let mut keys = t.keys();
            match (
                keys.next().map(String::as_str),
                keys.next(),
                t.values().next(),
            ) {
                (Some("env"), None, Some(toml::Value::String(name)))
                    if !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    Ok(Value::Secret(SecretRef::Env(name.clone())))
                }
                (Some("file"), None, Some(toml::Value::String(path))) if !path.is_empty() => {
                    Ok(Value::Secret(SecretRef::File(path.clone())))
                }
                _ => Err(mismatch(
                    "`{ env = \"VAR_NAME\" }` or `{ file = \"/path/to/secret\" }`",
                )),
            }
        }
        (ParamType::Secret, _) => Err(mismatch(
            "`{ env = \"VAR_NAME\" }` or `{ file = \"/path\" }`",
        )),
        (ParamType::Integer, toml::Value::Integer(n)) => Ok(Value::Integer(*n)),
        (ParamType::Integer, toml::Value::String(s)) if has_placeholder(s) => {
            Ok(Value::Text(s.clone()))
        }
        (ParamType::Integer, _) => Err(mismatch("an integer")),
        (ParamType::Duration, toml::Value::String(s)) if has_placeholder(s) => {
            Ok(Value::Text(s.clone()))
        }
        (ParamType::Duration, toml::Value::String(s)) => duration::parse(s)
            .map(Value::Duration)
            .map_err(|e| TypeMismatch {
                message: e,
                expected: duration::EXPECTED.into(),
            }),
        (ParamType::Duration, _) => Err(mismatch(duration::EXPECTED)),
        (ParamType::Artifact, toml::Value::String(s)) => {
            if has_placeholder(s) || is_package_path(s) {
                Ok(Value::Text(s.clone()))
            } else {
                Err(TypeMismatch {
                    message: format!("`{s}` is not a path inside the package"),
                    expected: "a relative path such as `app.war` or `sql/V1.sql`, without `..`"
                        .into(),
                })
            }
        }
        (ParamType::String | ParamType::Path, toml::Value::String(s)) => Ok(Value::Text(s.clone())),
        (ParamType::String | ParamType::Path | ParamType::Artifact, _) => Err(mismatch("a string")),
    }
}

/// Re-types a value whose placeholders were just resolved into plain text.
pub fn retype(ty: ParamType, text: &str) -> Result<Value, TypeMismatch> {
    match ty {
        ParamType::Integer => text
            .trim()
            .parse()
            .map(Value::Integer)
            .map_err(|_| TypeMismatch {
                message: format!("`{text}` is not an integer"),
                expected: "an integer".into(),
            }),
        _ => typed(ty, &toml::Value::String(text.to_string())),
    }
}

fn describe(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// A path inside a package: relative, no `..`, no empty component.
pub fn is_package_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

pub fn has_placeholder(s: &str) -> bool {
    s.contains("${")
}

/// A `${name}` found in a text: the name and the byte range of the whole placeholder.
pub type Placeholder = (String, std::ops::Range<usize>);

/// The `${name}` placeholders of `text`, with their byte ranges; an unclosed `${` or an invalid
/// name is an error naming the offset.
pub fn placeholders(text: &str) -> Result<Vec<Placeholder>, (usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${") {
        let start = from + i;
        let Some(len) = text[start + 2..].find('}') else {
            return Err((start, "`${` is not closed by `}`".into()));
        };
        let name = &text[start + 2..start + 2 + len];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err((start, format!("`${{{name}}}` is not a valid placeholder")));
        }
        out.push((name.to_string(), start..start + 3 + len));
        from = start + 3 + len;
    }
    Ok(out)
}

/// Replaces every `${name}` of `text` by `lookup(name)`; the first unknown name is returned.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let Ok(found) = placeholders(text) else {
        return Err(text.to_string());
    };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (name, range) in found {
        out.push_str(&text[last..range.start]);
        out.push_str(&lookup(&name).ok_or(name)?);
        last = range.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_what_an_environment_variable_may_be_named() {
        assert!(is_identifier("PILOTE_RUN"));
        assert!(is_identifier("_x1"));
        for bad in ["HOST_RACK-ID", "1X", "", "A=B", "a;b", "nul\0", "é"] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_references_only() {
        let inline = typed(ParamType::Secret, &toml::Value::String("hunter2".into()));
        assert!(inline.is_err_and(|e| e.message.contains("inline")));
        let by_env: toml::Value =
            toml::from_str::<toml::Table>("v = { env = \"DB_PASS\" }").expect("toml")["v"].clone();
        assert_eq!(
            typed(ParamType::Secret, &by_env),
            Ok(Value::Secret(SecretRef::Env("DB_PASS".into())))
        );
        assert_eq!(
            Value::Secret(SecretRef::Env("DB_PASS".into())).to_string(),
            "<secret from env DB_PASS>"
        );
    }

    #[test]
    fn artifacts_stay_inside_the_package() {
        for ok in ["app.war", "sql/V1.sql"] {
            assert!(is_package_path(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a"] {
            assert!(!is_package_path(bad), "{bad}");
        }
    }

    #[test]
    fn interpolation() {
        let r = interpolate("http://${host}:8080/${app}", |n| Some(n.to_uppercase()));
        assert_eq!(r.as_deref(), Ok("http://HOST:8080/APP"));
        assert_eq!(interpolate("${nope}", |_| None), Err("nope".to_string()));
        assert!(placeholders("x ${unclosed").is_err());
        assert!(placeholders("${Bad}").is_err());
    }
}
