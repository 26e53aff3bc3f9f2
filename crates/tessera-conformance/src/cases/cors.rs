//! CORS: the API answers credentialed cross-origin calls only for its configured web origins,
//! so a foreign origin or the opaque `null` origin gets no `Access-Control-Allow-Origin`, on
//! preflights and on real requests. The web server does not do CORS at all.

use reqwest::header::COOKIE;

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{Context, EVIL_ORIGIN};
use crate::http::{Resp, send};

/// The CORS cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "cors.api-preflight-evil",
            "OPTIONS /auth/login preflight from https://evil.example",
            "no ACAO",
            api_preflight_evil
        ),
        case!(
            "cors.api-preflight-null",
            "OPTIONS /auth/login preflight from Origin: null",
            "no ACAO",
            api_preflight_null
        ),
        case!(
            "cors.api-get-evil",
            "Cookie-authenticated GET /auth/me from https://evil.example",
            "no ACAO",
            api_get_evil
        ),
        case!(
            "cors.api-get-null",
            "Cookie-authenticated GET /auth/me from Origin: null",
            "no ACAO",
            api_get_null
        ),
        case!(
            "cors.web-foreign",
            "Preflight of {web}/session and GET {web}/login from evil and null origins",
            "no ACAO",
            web_foreign
        ),
    ]
}

/// `none`, or the `Access-Control-Allow-Origin` value (with `+credentials` when allowed).
fn acao(r: &Resp) -> Option<String> {
    r.header("access-control-allow-origin").map(|v| {
        let creds = r
            .header("access-control-allow-credentials")
            .is_some_and(|c| c.eq_ignore_ascii_case("true"));
        format!("ACAO {v}{}", if creds { " +credentials" } else { "" })
    })
}

fn verdict(rs: &[(&str, Resp)]) -> Verdict {
    let mut ok = true;
    let parts: Vec<String> = rs
        .iter()
        .map(|(label, r)| {
            let a = acao(r);
            ok &= a.is_none();
            let shown = a.unwrap_or_else(|| "no ACAO".to_owned());
            if label.is_empty() {
                format!("{} {shown}", r.status)
            } else {
                format!("{label} {} {shown}", r.status)
            }
        })
        .collect();
    Verdict::check(ok, parts.join(", "))
}

async fn preflight(cx: &Context, url: String, origin: &str) -> Result<Resp, crate::CaseError> {
    send(
        cx.target
            .client
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, x-csrf-token",
            ),
    )
    .await
}

async fn api_get(cx: &Context, origin: &str) -> Result<Resp, crate::CaseError> {
    send(
        cx.target
            .client
            .get(cx.target.api_url("/auth/me"))
            .header("origin", origin)
            .header(COOKIE, cx.main.access_cookie_header()),
    )
    .await
}

async fn api_preflight_evil(cx: &Context) -> CaseResult {
    let r = preflight(cx, cx.target.api_url("/auth/login"), EVIL_ORIGIN).await?;
    Ok(verdict(&[("", r)]))
}

async fn api_preflight_null(cx: &Context) -> CaseResult {
    let r = preflight(cx, cx.target.api_url("/auth/login"), "null").await?;
    Ok(verdict(&[("", r)]))
}

async fn api_get_evil(cx: &Context) -> CaseResult {
    Ok(verdict(&[("", api_get(cx, EVIL_ORIGIN).await?)]))
}

async fn api_get_null(cx: &Context) -> CaseResult {
    Ok(verdict(&[("", api_get(cx, "null").await?)]))
}

async fn web_foreign(cx: &Context) -> CaseResult {
    let mut rs = Vec::new();
    for (label, origin) in [("evil", EVIL_ORIGIN), ("null", "null")] {
        rs.push((
            label,
            preflight(cx, cx.target.web_url("/session"), origin).await?,
        ));
        let get = send(
            cx.target
                .client
                .get(cx.target.web_url("/login"))
                .header("origin", origin),
        )
        .await?;
        rs.push((label, get));
    }
    Ok(verdict(&rs))
}
