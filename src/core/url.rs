//! What of a URL may be shown, logged or stored. URLs given to pilote (a webhook, the CMDB)
//! often carry their credential: `user:password@`, a token in the path or an `api_key` in
//! the query. Only the request itself gets the whole URL.

/// A URL's scheme, host and port, then `/…` for whatever followed: `http://127.0.0.1:8080/…`
/// for `http://user:pw@127.0.0.1:8080/hooks/s3cret?k=v`. Text that is not a URL is all
/// hidden (`…`).
pub fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.trim().split_once("://") else {
        return "…".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/…")
}

#[cfg(test)]
mod tests {
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
    }
}
