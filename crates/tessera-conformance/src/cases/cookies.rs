//! Cookie attributes and session fixation.
//!
//! Every `Set-Cookie` of an API login, an API refresh and a web relay must be `Secure`,
//! `HttpOnly`, `SameSite=Strict`, `__Host-` (with `Path=/`) or `__Secure-`, without `Domain`,
//! and under 4096 bytes. Plain-HTTP test stacks are held to the same rule.

use reqwest::header::COOKIE;

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{CSRF_HEADER, Context, random_hex};
use crate::error::CaseError;
use crate::http::{Resp, cookie_report, send};

/// The cookie cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "cookies.api-login",
            "Set-Cookie attributes of POST /auth/login",
            "Secure HttpOnly Strict prefixed",
            api_login
        ),
        case!(
            "cookies.api-refresh",
            "Set-Cookie attributes of POST /auth/refresh (cookie + CSRF)",
            "Secure HttpOnly Strict prefixed",
            api_refresh
        ),
        case!(
            "cookies.web-relay",
            "Set-Cookie attributes of POST {web}/session",
            "Secure HttpOnly Strict prefixed",
            web_relay
        ),
        case!(
            "cookies.no-store",
            "Cache-Control of the login, refresh and relay answers",
            "no-store ×3",
            no_store
        ),
        case!(
            "cookies.fixation-planted-value",
            "Relay with an attacker-chosen web cookie already set",
            "new value set",
            fixation_planted
        ),
        case!(
            "cookies.fixation-session",
            "Relay a victim's code over the attacker's web cookie, then post with the attacker's form token",
            "new cookie, 403",
            fixation_session
        ),
    ]
}

/// A cookie-mode refresh (refresh cookie + CSRF header), as `tessera.js` sends it.
async fn cookie_refresh(cx: &Context) -> Result<Resp, CaseError> {
    let s = cx.fresh().await?;
    send(
        cx.target
            .client
            .post(cx.target.api_url("/auth/refresh"))
            .header(COOKIE, s.refresh_cookie_header())
            .header(CSRF_HEADER, &s.csrf),
    )
    .await
}

async fn api_login(cx: &Context) -> CaseResult {
    let s = cx.fresh().await?;
    let (ok, text) = cookie_report(&s.login.set_cookies());
    Ok(Verdict::check(ok, text))
}

async fn api_refresh(cx: &Context) -> CaseResult {
    let r = cookie_refresh(cx).await?;
    if r.status != 200 {
        return Ok(Verdict::fail(format!("refresh answered {}", r.status)));
    }
    let (ok, text) = cookie_report(&r.set_cookies());
    Ok(Verdict::check(ok, text))
}

async fn web_relay(cx: &Context) -> CaseResult {
    let w = cx.web_session(&cx.primary).await?;
    let (ok, text) = cookie_report(&w.relay.set_cookies());
    Ok(Verdict::check(ok, text))
}

async fn no_store(cx: &Context) -> CaseResult {
    let login = cx.fresh().await?.login;
    let refresh = cookie_refresh(cx).await?;
    let relay = cx.web_session(&cx.primary).await?.relay;
    let mut ok = true;
    let parts: Vec<String> = [("login", &login), ("refresh", &refresh), ("relay", &relay)]
        .iter()
        .map(|(label, r)| {
            ok &= r.no_store();
            format!(
                "{label} {}",
                r.header("cache-control").unwrap_or("(no Cache-Control)")
            )
        })
        .collect();
    Ok(Verdict::check(ok, parts.join(", ")))
}

async fn fixation_planted(cx: &Context) -> CaseResult {
    // Learn the web cookie's name from a relay of our own.
    let name = cx.web_session(&cx.secondary).await?.cookie_name;
    let planted = format!("attacker-{}", random_hex()?);
    let s = cx.fresh().await?;
    let r = send(
        cx.relay_request(s.code()?)
            .header(COOKIE, format!("{name}={planted}")),
    )
    .await?;
    let set = r.cookie(&name);
    Ok(match set {
        Some(c) if c.value != planted && r.status < 300 => {
            Verdict::pass(format!("{}, new value set", r.status))
        }
        Some(_) => Verdict::fail(format!("{}, planted value kept", r.status)),
        None => Verdict::fail(format!("{}, no cookie set", r.status)),
    })
}

async fn fixation_session(cx: &Context) -> CaseResult {
    // The attacker signs in on their own and keeps their web cookie and form token.
    let attacker = cx.web_session(&cx.secondary).await?;
    // The victim's relay arrives while the attacker's cookie is planted in the browser.
    let victim = cx.fresh().await?;
    let r = send(
        cx.relay_request(victim.code()?)
            .header(COOKIE, attacker.cookie_header()),
    )
    .await?;
    let Some(fresh) = r.cookie(&attacker.cookie_name) else {
        return Ok(Verdict::fail(format!(
            "relay {}, no cookie set",
            r.summary()
        )));
    };
    if fresh.value == attacker.cookie_value {
        return Ok(Verdict::fail("the attacker's cookie value was kept"));
    }
    // The attacker's form token must not work on the victim's new session.
    let marker = format!("fixation-probe-{}", random_hex()?);
    let post = send(cx.same_origin(cx.web_form(
        "/notes",
        &format!("{}={}", fresh.name, fresh.value),
        &[("csrf_token", &attacker.form_token), ("body", &marker)],
    )))
    .await?;
    let created = cx.note_bodies(&victim).await?.contains(&marker);
    Ok(Verdict::check(
        post.status == 403 && !created,
        format!(
            "new cookie, attacker token {}{}",
            post.status,
            if created { " (note created)" } else { "" }
        ),
    ))
}
