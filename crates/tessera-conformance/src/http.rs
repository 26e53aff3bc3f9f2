//! Small HTTP helpers: whole responses, `Set-Cookie` parsing, form encoding and the little HTML
//! reading the web cases need.

use reqwest::RequestBuilder;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::Value;

use crate::error::CaseError;

/// A response read to its end.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    /// Status code.
    pub(crate) status: u16,
    /// Headers.
    pub(crate) headers: HeaderMap,
    /// Body.
    pub(crate) body: Vec<u8>,
}

/// Sends a request and reads the whole answer.
pub(crate) async fn send(rb: RequestBuilder) -> Result<Resp, CaseError> {
    let res = rb.send().await?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await?.to_vec();
    Ok(Resp {
        status,
        headers,
        body,
    })
}

impl Resp {
    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header's value, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie`, parsed.
    pub(crate) fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| SetCookie::parse(&String::from_utf8_lossy(v.as_bytes())))
            .collect()
    }

    /// The cookie set under `name` with a non-empty value, if any.
    pub(crate) fn cookie(&self, name: &str) -> Option<SetCookie> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.name == name && !c.value.is_empty())
    }

    /// Whether `Cache-Control` says `no-store`.
    pub(crate) fn no_store(&self) -> bool {
        self.headers
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
    }

    /// `403` or `403 (3 cookies)`: the status, and whether anything was set.
    pub(crate) fn summary(&self) -> String {
        let n = self
            .set_cookies()
            .iter()
            .filter(|c| !c.value.is_empty())
            .count();
        if n == 0 {
            self.status.to_string()
        } else {
            format!(
                "{} (sets {n} cookie{})",
                self.status,
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

/// One `Set-Cookie` header.
#[derive(Debug, Clone)]
pub(crate) struct SetCookie {
    /// The header as received.
    pub(crate) raw: String,
    /// Cookie name.
    pub(crate) name: String,
    /// Cookie value.
    pub(crate) value: String,
    /// Attributes: lower-cased name, value.
    attrs: Vec<(String, Option<String>)>,
}

impl SetCookie {
    /// Parses a `Set-Cookie` value.
    pub(crate) fn parse(raw: &str) -> Self {
        let mut parts = raw.split(';');
        let first = parts.next().unwrap_or_default();
        let (name, value) = first.split_once('=').unwrap_or((first, ""));
        let attrs = parts
            .map(|p| {
                let p = p.trim();
                match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_owned())),
                    None => (p.to_ascii_lowercase(), None),
                }
            })
            .collect();
        Self {
            raw: raw.to_owned(),
            name: name.trim().to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            attrs,
        }
    }

    fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|(k, _)| k == attr)
    }

    fn get(&self, attr: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == attr)
            .and_then(|(_, v)| v.as_deref())
    }

    /// What is wrong with this cookie by Tessera's policy: `Secure`, `HttpOnly`,
    /// `SameSite=Strict`, a `__Host-` or `__Secure-` name, no `Domain`, `Path=/` for
    /// `__Host-`, under 4096 bytes with its attributes.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.has("secure") {
            out.push("no Secure".to_owned());
        }
        if !self.has("httponly") {
            out.push("no HttpOnly".to_owned());
        }
        match self.get("samesite") {
            Some(v) if v.eq_ignore_ascii_case("strict") => {}
            Some(v) => out.push(format!("SameSite={v}")),
            None => out.push("no SameSite".to_owned()),
        }
        if self.has("domain") {
            out.push(format!("Domain={}", self.get("domain").unwrap_or_default()));
        }
        if self.name.starts_with("__Host-") {
            if self.get("path") != Some("/") {
                out.push("__Host- without Path=/".to_owned());
            }
        } else if !self.name.starts_with("__Secure-") {
            out.push("no __Host-/__Secure- prefix".to_owned());
        }
        if self.raw.len() >= 4096 {
            out.push(format!("{} bytes", self.raw.len()));
        }
        out
    }
}

/// Checks every cookie of a response: `name ok` or `name: problem, problem`.
pub(crate) fn cookie_report(cookies: &[SetCookie]) -> (bool, String) {
    if cookies.is_empty() {
        return (false, "no Set-Cookie".to_owned());
    }
    let mut ok = true;
    let parts: Vec<String> = cookies
        .iter()
        .map(|c| {
            let p = c.problems();
            if p.is_empty() {
                format!("{} ok", c.name)
            } else {
                ok = false;
                format!("{}: {}", c.name, p.join(", "))
            }
        })
        .collect();
    (ok, parts.join("; "))
}

/// Percent-encodes a form or query value.
pub(crate) fn pct(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body.
pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes the HTML character references a template engine may produce.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The values of every `attr="…"` in a document, unescaped.
pub(crate) fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        let after = &rest[i + needle.len()..];
        let Some(end) = after.find('"') else { break };
        out.push(unescape(&after[..end]));
        rest = &after[end..];
    }
    out
}

/// The value of the first `<input … name="NAME" … value="…">`.
pub(crate) fn hidden_input(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let i = html.find(&needle)?;
    let start = html[..i].rfind('<')?;
    let end = i + html[i..].find('>')?;
    attr_values(&html[start..end], "value").into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_policy() {
        let good = SetCookie::parse(
            "__Host-tessera-access=abc; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=900",
        );
        assert_eq!(good.name, "__Host-tessera-access");
        assert_eq!(good.value, "abc");
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        let bad = SetCookie::parse("sid=1; Domain=example.com; SameSite=Lax; Path=/x");
        let p = bad.problems().join(", ");
        for word in ["Secure", "HttpOnly", "SameSite=Lax", "Domain", "prefix"] {
            assert!(p.contains(word), "{p}");
        }
        let host_path = SetCookie::parse("__Host-x=1; Secure; HttpOnly; SameSite=Strict; Path=/a");
        assert_eq!(host_path.problems(), vec!["__Host- without Path=/"]);
    }

    #[test]
    fn html_helpers() {
        let html = r#"<form data-next="/"><input type="hidden" name="csrf_token" value="a&#43;b&#x2f;c&#61;"></form>"#;
        assert_eq!(hidden_input(html, "csrf_token").as_deref(), Some("a+b/c="));
        assert_eq!(attr_values(html, "data-next"), vec!["/"]);
        assert_eq!(
            unescape("&amp;&lt;x&gt;&quot;&#39;& &bogus;"),
            "&<x>\"'& &bogus;"
        );
        assert_eq!(form(&[("a b", "c+d/=")]), "a%20b=c%2Bd%2F%3D");
    }
}
