//! Size limits and hostile JSON.
//!
//! Duplicate keys: Tessera's request types are plain serde structs, and serde's derived
//! deserializers refuse a repeated field (`duplicate field "email"`), so Tessera answers 400.
//! The case also accepts a server that consistently takes one of the values, as long as it
//! never signs in an account other than the one the **last** `email` names (what a
//! last-wins parser, such as most JavaScript front ends, would have shown the user).

use reqwest::header::{CONNECTION, CONTENT_TYPE, COOKIE};
use serde_json::Value;

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{CSRF_HEADER, Context};
use crate::error::CaseError;
use crate::http::send;

/// The limit cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "limits.api-headers-16k",
            "GET on the API with 17 KiB of request headers (HTTP/1.1)",
            "431",
            api_headers
        ),
        case!(
            "limits.web-headers-16k",
            "GET on the web server with 17 KiB of request headers (HTTP/1.1)",
            "431",
            web_headers
        ),
        case!(
            "limits.body-64k",
            "POST /auth/login with a 65 KiB JSON body",
            "413",
            body
        ),
        case!(
            "limits.malformed-json",
            "Truncated JSON on /auth/login and /notes",
            "400, 400",
            malformed
        ),
        case!(
            "limits.nested-json",
            "JSON nested 10,000 levels deep on /auth/login, then a normal request",
            "400, then 200",
            nested
        ),
        case!(
            "limits.duplicate-keys",
            "{\"email\":other,\"email\":main,…} on /auth/login",
            "400, or the last email's account",
            duplicate_keys
        ),
    ]
}

const PADDING: usize = 17 * 1024;

async fn headers(cx: &Context, url: String) -> CaseResult {
    let r = send(
        cx.target
            .http1
            .get(url)
            .header("x-conformance-padding", "a".repeat(PADDING)),
    )
    .await?;
    Ok(Verdict::check(r.status == 431, r.status.to_string()))
}

async fn api_headers(cx: &Context) -> CaseResult {
    headers(cx, cx.target.api_url("/.well-known/jwks.json")).await
}

async fn web_headers(cx: &Context) -> CaseResult {
    headers(cx, cx.target.web_url("/login")).await
}

fn login_json(cx: &Context, body: String) -> reqwest::RequestBuilder {
    cx.target
        .client
        .post(cx.target.api_url("/auth/login"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
}

async fn body(cx: &Context) -> CaseResult {
    let big = format!(
        "{{\"email\":\"{}\",\"password\":\"{}\"}}",
        cx.primary.email,
        "a".repeat(65 * 1024)
    );
    // The server answers before reading the body and then drops the connection: over
    // HTTP/1.1 say so up front, or the pool would hand that dead connection to the next case.
    let r = send(
        cx.target
            .http1
            .post(cx.target.api_url("/auth/login"))
            .header(CONTENT_TYPE, "application/json")
            .header(CONNECTION, "close")
            .body(big),
    )
    .await?;
    Ok(Verdict::check(r.status == 413, r.status.to_string()))
}

async fn malformed(cx: &Context) -> CaseResult {
    let a = send(login_json(
        cx,
        "{\"email\": \"a@example.com\", \"password\": ".into(),
    ))
    .await?;
    let b = send(
        cx.target
            .client
            .post(cx.target.api_url("/notes"))
            .header(COOKIE, cx.main.access_cookie_header())
            .header(CSRF_HEADER, &cx.main.csrf)
            .header(CONTENT_TYPE, "application/json")
            .body("{\"body\": \"unterminated"),
    )
    .await?;
    Ok(Verdict::check(
        a.status == 400 && b.status == 400,
        format!("login {}, notes {}", a.status, b.status),
    ))
}

async fn alive(cx: &Context) -> Result<u16, CaseError> {
    Ok(send(
        cx.target
            .client
            .get(cx.target.api_url("/.well-known/jwks.json")),
    )
    .await?
    .status)
}

async fn nested(cx: &Context) -> CaseResult {
    const DEPTH: usize = 10_000;
    let deep = format!(
        "{{\"email\":{}{},\"password\":\"x\"}}",
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    );
    let objects = format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH));
    let a = send(login_json(cx, deep)).await;
    let b = send(login_json(cx, objects)).await;
    let after = alive(cx).await?;
    let status = |r: &Result<crate::http::Resp, CaseError>| match r {
        Ok(r) => r.status.to_string(),
        Err(_) => "connection failed".to_owned(),
    };
    let ok = matches!((&a, &b), (Ok(a), Ok(b)) if a.status == 400 && b.status == 400);
    Ok(Verdict::check(
        ok && after == 200,
        format!(
            "arrays {}, objects {}, then {after}",
            status(&a),
            status(&b)
        ),
    ))
}

async fn duplicate_keys(cx: &Context) -> CaseResult {
    // Both accounts share one password, so a first-wins server would sign in the other one.
    let body = format!(
        "{{\"email\":{},\"email\":{},\"password\":{}}}",
        Value::from(cx.secondary.email.as_str()),
        Value::from(cx.primary.email.as_str()),
        Value::from(cx.primary.password.as_str())
    );
    let r = send(login_json(cx, body)).await?;
    let after = alive(cx).await?;
    if after != 200 {
        return Ok(Verdict::fail(format!(
            "{}, then the API answered {after}",
            r.status
        )));
    }
    match r.status {
        200 => {
            let email = r
                .json()
                .and_then(|v| {
                    v.get("user")
                        .and_then(|u| u.get("email"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            let last = email.eq_ignore_ascii_case(&cx.primary.email);
            Ok(Verdict::check(
                last,
                if last {
                    "200, the last email's account".to_owned()
                } else {
                    format!("200, signed in {email:?}, not the last email's account")
                },
            ))
        }
        s if s >= 500 => Ok(Verdict::fail(s.to_string())),
        s => Ok(Verdict::pass(format!("{s}, refused"))),
    }
}
