//! Request checks for a web server whose HttpOnly cookie alone must never be enough: the
//! browser attaches it to cross-site requests too.
//!
//! - Unsafe requests need `Sec-Fetch-Site: same-origin`, or, where a browser sends no Fetch
//!   Metadata, an `Origin` equal to the configured public origin. A request with neither is
//!   refused.
//! - Forms carry a synchronizer token (a mask of a secret kept in the sealed session cookie).
//! - Redirect targets (`next`) are same-origin relative paths only.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::WebError;
use crate::session::WebContext;

/// Whether the method can change state.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Checks Fetch Metadata and `Origin` against this server's origin.
pub fn check_same_origin(headers: &HeaderMap, public_origin: &str) -> Result<(), WebError> {
    let site = headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or("invalid"));
    let origin = headers
        .get(axum::http::header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("invalid"));
    match (site, origin) {
        (Some(site), _) if site != "same-origin" => Err(WebError::CrossSite),
        (_, Some(origin)) if origin != public_origin => Err(WebError::CrossSite),
        (None, None) => Err(WebError::CrossSite),
        _ => Ok(()),
    }
}

/// Middleware: every unsafe request must be same-origin (see [`check_same_origin`]).
pub async fn same_origin_unsafe(
    State(ctx): State<WebContext>,
    req: Request,
    next: Next,
) -> Response {
    if is_unsafe(req.method())
        && let Err(e) = check_same_origin(req.headers(), &ctx.config.public_origin)
    {
        tracing::info!(method = %req.method(), path = req.uri().path(), "cross-site request refused");
        return e.into_response();
    }
    next.run(req).await
}

/// `next` if it is a same-origin relative path, `/` otherwise.
///
/// Refused: anything not starting with a single `/` (`//evil`, `/\evil`, `https:evil`,
/// `javascript:`), backslashes anywhere (browsers treat `\` as `/`), control characters and
/// whitespace, and over-long values.
pub fn safe_next(next: &str) -> String {
    let ok = next.len() <= 2048
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok { next.to_owned() } else { "/".to_owned() }
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query parameter value.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded query value (`+` is a space); `None` on invalid encoding.
pub fn decode_query(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The path and query of a request, as a `next` value.
pub fn current_path(uri: &axum::http::Uri) -> String {
    safe_next(uri.path_and_query().map_or("/", |pq| pq.as_str()))
}

/// Middleware: security headers for HTML pages. The CSP allows scripts and styles from this
/// origin only (no inline script), API calls to this origin and the API, no framing, and
/// forms that post only here. `Cache-Control: no-store` keeps signed-in pages out of caches.
pub async fn page_headers(State(ctx): State<WebContext>, req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    let mut res = next.run(req).await;
    let api = api_origin(&ctx.config.api_public_url);
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' {api}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if ctx.config.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    res
}

/// `scheme://host[:port]` of a URL.
fn api_origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or("")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn next_must_be_a_same_origin_path() {
        for ok in ["/", "/notes", "/sessions?x=1", "/a/b#c"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "//evil",
            "/\\evil",
            "https:evil",
            "javascript:alert(1)",
            "https://evil.test/",
            "evil",
            "",
            "/a b",
            "/\tx",
            "/a\\b",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?} accepted");
        }
    }

    #[test]
    fn same_origin_rules() {
        let o = "https://app.example.test";
        let mut h = HeaderMap::new();
        assert!(check_same_origin(&h, o).is_err(), "neither header");
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(check_same_origin(&h, o).is_ok());
        h.insert("origin", HeaderValue::from_static("https://evil.test"));
        assert!(check_same_origin(&h, o).is_err());
        h.insert("origin", HeaderValue::from_static("null"));
        assert!(check_same_origin(&h, o).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        h.insert(
            "origin",
            HeaderValue::from_static("https://app.example.test"),
        );
        assert!(
            check_same_origin(&h, o).is_err(),
            "same-site is not same-origin"
        );
        let mut h = HeaderMap::new();
        h.insert(
            "origin",
            HeaderValue::from_static("https://app.example.test"),
        );
        assert!(
            check_same_origin(&h, o).is_ok(),
            "Origin alone, where no Fetch Metadata is sent"
        );
    }

    #[test]
    fn query_round_trip_and_escape() {
        assert_eq!(
            decode_query(&encode_query("/a b?c=d&e")).as_deref(),
            Some("/a b?c=d&e")
        );
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
