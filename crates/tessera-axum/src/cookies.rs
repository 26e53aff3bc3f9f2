//! The cookie policy, in one place.
//!
//! | cookie | name | attributes |
//! |---|---|---|
//! | access | `__Host-tessera-access` | `Secure; HttpOnly; SameSite=Strict; Path=/` |
//! | refresh | `__Secure-tessera-refresh` | `Secure; HttpOnly; SameSite=Strict; Path=/auth` |
//!
//! No cookie ever carries `Domain` (a `Domain=example.com` cookie would reach the other host).
//! The prefixes make the browser enforce that: a `__Host-` cookie with `Domain`, without
//! `Secure` or with another path is refused. Removal cookies repeat the same attributes, or the
//! browser would not match them. A name that appears twice in one `Cookie` header (cookie
//! tossing) is treated as absent.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

/// Names and attributes of the cookies an API server sets.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    /// The access-token cookie name (must start with `__Host-`).
    pub access_name: &'static str,
    /// The refresh-token cookie name (must start with `__Secure-`).
    pub refresh_name: &'static str,
    /// The refresh cookie's path: only the auth routes ever receive it.
    pub refresh_path: &'static str,
}

impl Default for CookiePolicy {
    fn default() -> Self {
        Self {
            access_name: "__Host-tessera-access",
            refresh_name: "__Secure-tessera-refresh",
            refresh_path: "/auth",
        }
    }
}

impl CookiePolicy {
    /// `Set-Cookie` for the access token, living as long as the token.
    pub fn access(&self, token: &str, ttl: Duration) -> HeaderValue {
        set_cookie(self.access_name, token, "/", Some(ttl))
    }

    /// `Set-Cookie` for the refresh token, living until the session's absolute expiry.
    pub fn refresh(&self, token: &str, ttl: Duration) -> HeaderValue {
        set_cookie(self.refresh_name, token, self.refresh_path, Some(ttl))
    }

    /// `Set-Cookie` headers that remove both cookies (same attributes, `Max-Age=0`).
    pub fn clear(&self) -> [HeaderValue; 2] {
        [
            set_cookie(self.access_name, "", "/", Some(Duration::ZERO)),
            set_cookie(
                self.refresh_name,
                "",
                self.refresh_path,
                Some(Duration::ZERO),
            ),
        ]
    }

    /// The access token from the `Cookie` header, if present exactly once.
    pub fn read_access<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        read_cookie(headers, self.access_name)
    }

    /// The refresh token from the `Cookie` header, if present exactly once.
    pub fn read_refresh<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        read_cookie(headers, self.refresh_name)
    }
}

/// Builds a `Set-Cookie` value with Tessera's fixed attributes.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Option<Duration>) -> HeaderValue {
    let mut c = Cookie::build((name, value))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(path);
    if let Some(age) = max_age {
        c = c.max_age(cookie::time::Duration::seconds(
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
        ));
    }
    // Values are base64url or JWT text, always valid header bytes; the fallback never runs.
    HeaderValue::from_str(&c.build().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Reads one cookie by name from all `Cookie` headers. Present twice or more: `None`.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let pair = pair.trim_start_matches(' ');
            if let Some((k, v)) = pair.split_once('=')
                && k == name
            {
                if found.is_some() {
                    return None;
                }
                found = Some(v.trim_end());
            }
        }
    }
    found.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_strict_and_domainless() {
        let p = CookiePolicy::default();
        let a = p.access("tok", Duration::from_secs(900));
        let a = a.to_str().unwrap();
        assert!(a.starts_with("__Host-tessera-access=tok"));
        for attr in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=900",
        ] {
            assert!(a.contains(attr), "{a} lacks {attr}");
        }
        assert!(!a.to_ascii_lowercase().contains("domain"));
        let r = p.refresh("rt", Duration::from_secs(60));
        assert!(r.to_str().unwrap().contains("Path=/auth"));
        let [ca, cr] = p.clear();
        assert!(ca.to_str().unwrap().contains("Max-Age=0"));
        assert!(cr.to_str().unwrap().contains("Path=/auth"));
    }

    #[test]
    fn duplicate_cookie_names_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-tessera-access=x; b=2"),
        );
        assert_eq!(read_cookie(&h, "__Host-tessera-access"), Some("x"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-tessera-access=y"),
        );
        assert_eq!(read_cookie(&h, "__Host-tessera-access"), None);
    }
}
