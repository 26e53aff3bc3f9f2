//! Open redirects: the web server's `/login?next=…` renders only same-origin relative paths;
//! anything else becomes `/`.

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::Context;
use crate::http::{attr_values, pct, send};

/// The redirect cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "redirect.double-slash",
            "GET {web}/login?next=//evil.example",
            "data-next=\"/\"",
            double_slash
        ),
        case!(
            "redirect.backslash",
            "GET {web}/login?next=/\\evil.example",
            "data-next=\"/\"",
            backslash
        ),
        case!(
            "redirect.scheme",
            "GET {web}/login?next=https:evil.example",
            "data-next=\"/\"",
            scheme
        ),
        case!(
            "redirect.javascript",
            "GET {web}/login?next=javascript:alert(1)",
            "data-next=\"/\"",
            javascript
        ),
        case!(
            "redirect.absolute",
            "GET {web}/login?next=https://evil.example/ and /%09/evil.example",
            "data-next=\"/\"",
            absolute
        ),
    ]
}

async fn rendered(cx: &Context, nexts: &[&str]) -> CaseResult {
    let mut ok = true;
    let mut seen = Vec::new();
    for next in nexts {
        let r = send(
            cx.target
                .client
                .get(cx.target.web_url(&format!("/login?next={}", pct(next)))),
        )
        .await?;
        let values = attr_values(&r.text(), "data-next");
        let good = r.status == 200 && !values.is_empty() && values.iter().all(|v| v == "/");
        ok &= good;
        seen.push(match values.first() {
            Some(v) => format!("data-next=\"{v}\""),
            None => format!("{} without data-next", r.status),
        });
    }
    Ok(Verdict::check(ok, seen.join(", ")))
}

async fn double_slash(cx: &Context) -> CaseResult {
    rendered(cx, &["//evil.example"]).await
}

async fn backslash(cx: &Context) -> CaseResult {
    rendered(cx, &["/\\evil.example"]).await
}

async fn scheme(cx: &Context) -> CaseResult {
    rendered(cx, &["https:evil.example"]).await
}

async fn javascript(cx: &Context) -> CaseResult {
    rendered(cx, &["javascript:alert(1)"]).await
}

async fn absolute(cx: &Context) -> CaseResult {
    rendered(cx, &["https://evil.example/", "/\t/evil.example"]).await
}
