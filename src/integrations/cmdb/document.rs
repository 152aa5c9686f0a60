//! The CMDB inventory document: its typed shape, and the checks that make it a valid
//! inventory before anything is written.
//!
//! The schema is documented in docs/configuration.md ("The CMDB inventory document"). Syntax
//! and type errors come from serde_json with their line and column; cross-reference errors are
//! found on the typed document and pointed back at the text through a [`Locator`].

use std::collections::HashMap;
use std::path::Path as FsPath;

use indexmap::IndexMap;
use serde::Deserialize;

use super::locate::{Locator, Path, Seg, path};
use crate::core::automation::is_name;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::settings::{self, Connection};

/// The only version of the schema so far; a document without `version` is taken as it.
pub const VERSION: u32 = 1;

/// One JSON object: apps with their domains, hosts, and envs mapping domains to hosts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The schema version, [`VERSION`].
    #[serde(default)]
    pub version: Option<u32>,
    /// Which CMDB or export this is, free text, copied into the generated file's header.
    #[serde(default)]
    pub source: Option<String>,
    pub apps: IndexMap<String, AppDoc>,
    #[serde(default)]
    pub hosts: IndexMap<String, HostDoc>,
    pub envs: IndexMap<String, EnvDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDoc {
    #[serde(default)]
    pub description: String,
    /// Names of `lifecycles.toml`, checked when the workspace loads with the new inventory.
    pub lifecycles: Vec<String>,
    pub domains: IndexMap<String, DomainDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainDoc {
    #[serde(default)]
    pub description: String,
    /// A shell command that must succeed on each host of the domain.
    #[serde(default)]
    pub check: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostDoc {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub connection: Connection,
    #[serde(default)]
    pub shared: bool,
    /// Free attributes; they become the host's `vars` (`HOST_<NAME>` in scripts).
    #[serde(default)]
    pub attributes: IndexMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvDoc {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub protected: bool,
    /// app -> domain -> host names.
    #[serde(default)]
    pub apps: IndexMap<String, IndexMap<String, Vec<String>>>,
}

/// Parses and checks a document; `file` names it in diagnostics (a path or a URL).
/// Every problem is reported at once; `Err` holds at least one error.
pub fn parse(file: &FsPath, text: &str) -> Result<Document, Diagnostics> {
    // A CMDB export saved by a Windows tool may start with a BOM, which JSON does not allow
    // but the text means nothing by: read past it (the TOML files of a workspace may too).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde would take an array for the document's fields in order: refuse it plainly.
    let start = text.len() - text.trim_start().len();
    if !text[start..].is_empty() && !text[start..].starts_with('{') {
        return Err(Diagnostics(vec![
            Diagnostic::at(
                file,
                text,
                start..start + 1,
                "the document is not a JSON object",
            )
            .expected("{ \"apps\": {...}, \"hosts\": {...}, \"envs\": {...} }"),
        ]));
    }
    let doc: Document = serde_json::from_str(text).map_err(|e| {
        let mut d = Diagnostics::default();
        d.push(from_serde(file, text, &e));
        d
    })?;
    let mut diags = Diagnostics::default();
    let checker = Checker {
        file,
        text,
        locator: Locator::index(text),
    };
    checker.check(&doc, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(doc)
    }
}

/// A serde_json error at the line and column it gives; a `" at line L column C"` suffix
/// is dropped from the message since the position is said already.
fn from_serde(file: &FsPath, text: &str, e: &serde_json::Error) -> Diagnostic {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    // serde speaks Rust; the person reading this speaks JSON.
    let message = message
        .replace("expected u16", "expected a number from 0 to 65535")
        .replace("expected u32", "expected a whole number")
        .replace("invalid type: map", "invalid type: object")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected an object");
    if e.line() == 0 {
        return Diagnostic::file_error(file, message);
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(e.line() - 1)
        .map(str::len)
        .sum();
    let mut offset = (line_start + e.column().saturating_sub(1)).min(text.len());
    // serde_json stands after an unknown or duplicate key: point at the key itself.
    if let Some(key) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("duplicate field `"))
        .and_then(|rest| rest.split('`').next())
    {
        let quoted = serde_json::Value::String(key.to_string()).to_string();
        // The position is on the key's closing quote: search up to and including it.
        let end = (offset + 1).min(text.len());
        if let Some(i) = text.get(..end).and_then(|t| t.rfind(&quoted)) {
            offset = i;
        }
    }
    // A type error is reported on the value's last character: show the whole value.
    if e.classify() == serde_json::error::Category::Data
        && !message.starts_with("unknown field `")
        && let Some(span) = Locator::index(text).innermost_ending_at(offset + 1)
    {
        return Diagnostic::at(file, text, span, message);
    }
    let width = if message.starts_with("unknown field `") {
        message.split('`').nth(1).map_or(1, |k| {
            serde_json::Value::String(k.to_string()).to_string().len()
        })
    } else {
        1
    };
    Diagnostic::at(file, text, offset..offset + width, message)
}

struct Checker<'a> {
    file: &'a FsPath,
    text: &'a str,
    locator: Locator,
}

impl Checker<'_> {
    /// A diagnostic at `path` (its key, or its value); at the top of the file if the
    /// locator cannot find it, which would be a bug, never a reason to stay silent.
    fn at(&self, path: &Path, message: impl Into<String>) -> Diagnostic {
        let span = self.locator.span(path).unwrap_or(0..1);
        Diagnostic::at(self.file, self.text, span, message)
    }

    fn at_value(&self, path: &Path, message: impl Into<String>) -> Diagnostic {
        let span = self
            .locator
            .value_span(path)
            .or_else(|| self.locator.span(path))
            .unwrap_or(0..1);
        Diagnostic::at(self.file, self.text, span, message)
    }

    fn check(&self, doc: &Document, diags: &mut Diagnostics) {
        for (p, span) in &self.locator.duplicates {
            let key = match p.0.last() {
                Some(Seg::Key(k)) => k.as_str(),
                _ => "",
            };
            diags.push(
                Diagnostic::at(
                    self.file,
                    self.text,
                    span.clone(),
                    format!("`{key}` is given twice here ({p})"),
                )
                .expected("each name once per object: the second would silently replace the first"),
            );
        }
        if let Some(v) = doc.version.filter(|v| *v != VERSION) {
            diags.push(
                self.at_value(
                    &path(["version"]),
                    format!("unsupported document version {v}"),
                )
                .expected(format!("\"version\": {VERSION} (or no version)")),
            );
        }
        let mut objects = Vec::new();
        for (name, app) in &doc.apps {
            objects.push(path(["apps", name]));
            objects.extend(
                app.domains
                    .keys()
                    .map(|d| path(["apps", name, "domains", d])),
            );
        }
        objects.extend(doc.hosts.keys().map(|h| path(["hosts", h])));
        objects.extend(doc.envs.keys().map(|e| path(["envs", e])));
        for p in objects {
            self.object(&p, diags);
        }
        self.check_apps(doc, diags);
        self.check_hosts(doc, diags);
        self.check_envs(doc, diags);
    }

    /// serde reads a struct from an array too, field by field: `"web-1": ["10.0.0.1", "root"]`
    /// would pass for an address and a user. Entries must be objects with named fields.
    fn object(&self, p: &Path, diags: &mut Diagnostics) {
        let is_object = self
            .locator
            .value_span(p)
            .and_then(|s| self.text.get(s))
            .is_none_or(|v| v.starts_with('{'));
        if !is_object {
            diags.push(
                self.at_value(p, format!("{p} is not an object"))
                    .expected("an object with named fields: { \"key\": value, ... }"),
            );
        }
    }

    fn name(&self, p: &Path, name: &str, what: &str, diags: &mut Diagnostics) {
        if !is_name(name) {
            diags.push(self.at(p, format!("invalid {what} name `{name}`")).expected(
                "lowercase letters, digits, `-` or `_`, at most 64, starting with a letter or digit",
            ));
        }
    }

    fn check_apps(&self, doc: &Document, diags: &mut Diagnostics) {
        for (name, app) in &doc.apps {
            let p = path(["apps", name]);
            self.name(&p, name, "app", diags);
            if app.domains.is_empty() {
                diags.push(
                    self.at(&p.key("domains"), format!("app `{name}` has no domain"))
                        .expected("at least one domain: \"domains\": { \"NAME\": {} }"),
                );
            }
            if app.lifecycles.is_empty() {
                diags.push(
                    self.at(
                        &p.key("lifecycles"),
                        format!("app `{name}` lists no lifecycle"),
                    )
                    .expected("the names of lifecycles.toml, the default first"),
                );
            }
            for (i, lc) in app.lifecycles.iter().enumerate() {
                self.name(&p.key("lifecycles").index(i), lc, "lifecycle", diags);
            }
            for (domain, def) in &app.domains {
                let dp = p.key("domains").key(domain);
                self.name(&dp, domain, "domain", diags);
                if def.check.as_ref().is_some_and(|c| c.trim().is_empty()) {
                    diags.push(
                        self.at_value(
                            &dp.key("check"),
                            format!("the check of domain `{domain}` is empty"),
                        )
                        .expected("a shell command, or no \"check\""),
                    );
                }
            }
        }
    }

    fn check_hosts(&self, doc: &Document, diags: &mut Diagnostics) {
        for (name, host) in &doc.hosts {
            let p = path(["hosts", name]);
            if !settings::is_host_name(name) {
                diags.push(
                    self.at(&p, format!("invalid host name `{name}`"))
                        .expected(settings::HOST_NAME_RULE),
                );
            }
            for (field, value) in [("address", &host.address), ("user", &host.user)] {
                if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                    diags.push(
                        self.at_value(&p.key(field), format!("host `{name}` has an empty {field}"))
                            .expected(format!("a value, or no \"{field}\" (the default)")),
                    );
                }
            }
            if host.port == Some(0) {
                diags.push(
                    self.at_value(&p.key("port"), format!("host `{name}` has port 0"))
                        .expected("a TCP port from 1 to 65535"),
                );
            }
            for key in host.attributes.keys().filter(|k| k.trim().is_empty()) {
                diags.push(
                    self.at(
                        &p.key("attributes").key(key),
                        format!("host `{name}` has an attribute without a name"),
                    )
                    .expected("a name such as \"rack\""),
                );
            }
        }
    }

    fn check_envs(&self, doc: &Document, diags: &mut Diagnostics) {
        // The first env that claimed each host: a host in two envs would let a uat run touch
        // prod, unless the host says it is shared.
        let mut claimed: HashMap<&str, &str> = HashMap::new();
        for (env, def) in &doc.envs {
            let ep = path(["envs", env]);
            self.name(&ep, env, "environment", diags);
            for (app_name, domains) in &def.apps {
                let ap = ep.key("apps").key(app_name);
                let Some(app) = doc.apps.get(app_name) else {
                    diags.push(
                        self.at(
                            &ap,
                            format!("environment `{env}` names unknown app `{app_name}`"),
                        )
                        .expected(one_of(doc.apps.keys())),
                    );
                    continue;
                };
                for (domain, hosts) in domains {
                    let dp = ap.key(domain);
                    if !app.domains.contains_key(domain) {
                        diags.push(
                            self.at(
                                &dp,
                                format!(
                                    "environment `{env}` names domain `{domain}`, which app `{app_name}` does not define"
                                ),
                            )
                            .expected(one_of(app.domains.keys())),
                        );
                    }
                    let mut seen: Vec<&str> = Vec::new();
                    for (i, host) in hosts.iter().enumerate() {
                        let hp = dp.index(i);
                        if seen.contains(&host.as_str()) {
                            diags.push(self.at(
                                &hp,
                                format!(
                                    "host `{host}` is listed twice for domain `{domain}` of app `{app_name}` in environment `{env}`"
                                ),
                            ));
                            continue;
                        }
                        seen.push(host);
                        let Some(def) = doc.hosts.get(host) else {
                            diags.push(
                                self.at(&hp, format!("unknown host `{host}`"))
                                    .expected(format!("a host named `{host}` in \"hosts\"")),
                            );
                            continue;
                        };
                        match claimed.get(host.as_str()) {
                            Some(other) if *other != env.as_str() && !def.shared => diags.push(
                                self.at(
                                    &hp,
                                    format!(
                                        "host `{host}` is claimed by environment `{other}` and again by `{env}`"
                                    ),
                                )
                                .expected(format!(
                                    "another host, or \"shared\": true in {} if both environments really use it",
                                    path(["hosts", host])
                                )),
                            ),
                            Some(_) => {}
                            None => {
                                claimed.insert(host, env);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn one_of<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match names.len() {
        0 => "a defined name (none is defined)".to_string(),
        1 => names[0].clone(),
        _ => format!("one of {}", names.join(", ")),
    }
}
