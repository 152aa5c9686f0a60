//! What of a URL may be shown, logged or stored. URLs given to pilote (a webhook, the CMDB,
//! an `http` step) often carry their credential: `user:password@`, a token in the path or an
//! `api_key` in the query. Only the request itself gets the whole URL.

/// A URL's scheme, host and port, then `/…` for whatever followed: `http://127.0.0.1:8080/…`
/// for `http://user:pw@127.0.0.1:8080/hooks/s3cret?k=v`. Text that is not a URL is all
/// hidden (`…`).
pub fn mask(url: &str) -> String {
    let Some((scheme, rest)) = split_scheme(url.trim()) else {
        return "…".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/…")
}

/// `url` with its credentials masked and the rest kept, for a URL worth reading whole (an
/// `http` step's, in its log): `user:password@` becomes `****@`, and the value of every query
/// (or fragment) parameter whose name says it is secret becomes `****`:
/// `https://****@api.example/health?api_key=****&verbose=1`. A token in the path is not
/// recognised: a secret parameter's value is masked by the run's masks wherever it is.
pub fn mask_credentials(url: &str) -> String {
    let (head, rest) = match split_scheme(url) {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, rest) = rest.split_at(end);
            let head = match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://****@{host}"),
                None => format!("{scheme}://{authority}"),
            };
            (head, rest)
        }
        None => (String::new(), url),
    };
    let mut out = head;
    // The path, then `?query`, then `#fragment`: parameters are masked in the last two.
    let (before_fragment, fragment) = rest
        .split_once('#')
        .map_or((rest, None), |(b, f)| (b, Some(f)));
    let (path, query) = before_fragment
        .split_once('?')
        .map_or((before_fragment, None), |(p, q)| (p, Some(q)));
    out.push_str(path);
    for (mark, params) in [('?', query), ('#', fragment)] {
        if let Some(params) = params {
            out.push(mark);
            out.push_str(&mask_params(params));
        }
    }
    out
}

/// `text` (a config file) with every URL in it given [`mask_credentials`]: what of a file
/// may be kept in the store. A URL runs from its scheme to the next space or quote.
pub fn mask_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |j| j + 1);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || "\"'<>`".contains(c))
            .map_or(rest.len(), |j| i + j);
        out.push_str(&rest[..start]);
        out.push_str(&mask_credentials(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `a=1&api_key=K`: each `name=value` whose name looks secret gets `****` for its value.
fn mask_params(params: &str) -> String {
    let masked: Vec<String> = params
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((name, value)) if !value.is_empty() && looks_secret(name) => {
                format!("{name}=****")
            }
            _ => p.to_string(),
        })
        .collect();
    masked.join("&")
}

/// Whether a parameter's (or a header's) name says its value is a credential: a word of it
/// (split at anything but letters and digits, case ignored) is one of a few, or ends like one
/// (`apikey`, `accesstoken`, `x-amz-signature`, `client_secret`, `Authorization`...).
pub fn looks_secret(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "sig",
        "auth",
        "authorization",
        "pass",
        "session",
        "sessionid",
        "jwt",
        "credential",
        "credentials",
    ];
    const ENDINGS: &[&str] = &[
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "signature",
    ];
    name.to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| WORDS.contains(&w) || ENDINGS.iter().any(|e| w.ends_with(e)))
}

/// `(scheme, rest)` of `scheme://rest`, when the scheme is one (RFC 3986: a letter, then
/// letters, digits, `+`, `-`, `.`): text before a `://` that is not one may be anything.
pub fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some((scheme, rest))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_in_a_config_text_lose_their_credentials_and_nothing_else() {
        let text = "url = \"https://u:pw@h/x?token=T&a=1\"\nother = 'ftp://h/y' # ok\n";
        assert_eq!(
            super::mask_urls_in(text),
            "url = \"https://****@h/x?token=****&a=1\"\nother = 'ftp://h/y' # ok\n"
        );
    }

    use super::*;

    #[test]
    fn a_masked_url_keeps_only_scheme_host_and_port() {
        assert_eq!(
            mask("https://chat.example.com/hooks/abc123?x=1"),
            "https://chat.example.com/…"
        );
        assert_eq!(
            mask("http://user:pw@127.0.0.1:8080/hooks/s3cret"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(
            mask("https://cmdb.example?api_key=K"),
            "https://cmdb.example/…"
        );
        assert_eq!(mask("https://h.example#frag"), "https://h.example/…");
        assert_eq!(mask("not a url/secret"), "…");
        // Before `://` there may be anything but a scheme: it is not shown either.
        assert_eq!(mask("user:pw@htps://host/x"), "…");
        assert_eq!(mask("htps://user:pw@host/x"), "htps://host/…");
    }

    #[test]
    fn credentials_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_credentials("https://user:pass@api.example:8443/v1/health?api_key=K1&x=1"),
            "https://****@api.example:8443/v1/health?api_key=****&x=1"
        );
        assert_eq!(
            mask_credentials("https://t0ken@h.example/?Token=a&apiKey=b&X-Amz-Signature=c&sig=d"),
            "https://****@h.example/?Token=****&apiKey=****&X-Amz-Signature=****&sig=****"
        );
        assert_eq!(
            mask_credentials("https://h.example/cb#access_token=T&state=s"),
            "https://h.example/cb#access_token=****&state=s"
        );
        // Names that only contain a secret word are kept; an empty value has nothing to hide.
        assert_eq!(
            mask_credentials("http://127.0.0.1:80/ok?keyword=a&monkeys=b&token="),
            "http://127.0.0.1:80/ok?keyword=a&monkeys=b&token="
        );
        assert_eq!(mask_credentials("http://h/ok"), "http://h/ok");
        assert_eq!(
            mask_credentials("/relative?password=p"),
            "/relative?password=****"
        );
        // An `@` past the authority is the path's.
        assert_eq!(mask_credentials("http://h/a@b"), "http://h/a@b");
    }
}
