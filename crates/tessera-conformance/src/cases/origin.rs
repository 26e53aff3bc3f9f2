//! The web server's own origin checks: unsafe requests from another origin (`Origin:
//! https://evil.example`), from an opaque origin (`Origin: null`) or flagged
//! `Sec-Fetch-Site: cross-site` are refused with 403 and change nothing, even when they carry
//! everything else a legitimate request has (the session cookie, a valid form token, a valid
//! relay code).

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{Context, EVIL_ORIGIN, random_hex};
use crate::http::send;

/// The origin cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "origin.session-evil",
            "POST {web}/session with a valid relay code, Origin: https://evil.example",
            "403, no cookie",
            session_evil
        ),
        case!(
            "origin.session-null",
            "POST {web}/session with a valid relay code, Origin: null",
            "403, no cookie",
            session_null
        ),
        case!(
            "origin.session-cross-site",
            "POST {web}/session with a valid relay code, Sec-Fetch-Site: cross-site",
            "403, no cookie",
            session_cross_site
        ),
        case!(
            "origin.notes-evil",
            "POST {web}/notes with cookie and form token, Origin: https://evil.example",
            "403, no note",
            notes_evil
        ),
        case!(
            "origin.notes-null",
            "POST {web}/notes with cookie and form token, Origin: null",
            "403, no note",
            notes_null
        ),
        case!(
            "origin.notes-cross-site",
            "POST {web}/notes with cookie and form token, Sec-Fetch-Site: cross-site",
            "403, no note",
            notes_cross_site
        ),
        case!(
            "origin.logout-evil",
            "POST {web}/logout with cookie and form token, Origin: https://evil.example",
            "403, session live",
            logout_evil
        ),
        case!(
            "origin.logout-null",
            "POST {web}/logout with cookie and form token, Origin: null",
            "403, session live",
            logout_null
        ),
        case!(
            "origin.logout-cross-site",
            "POST {web}/logout with cookie and form token, Sec-Fetch-Site: cross-site",
            "403, session live",
            logout_cross_site
        ),
    ]
}

/// How a request claims to come from elsewhere.
#[derive(Debug, Clone, Copy)]
enum Attack {
    /// `Origin: https://evil.example` (and no Fetch Metadata, as older browsers send).
    Evil,
    /// `Origin: null` (sandboxed frames, `data:` documents, some redirects).
    Null,
    /// `Sec-Fetch-Site: cross-site`, with the right `Origin` so that only Fetch Metadata
    /// can tell.
    CrossSite,
}

fn attack(cx: &Context, rb: reqwest::RequestBuilder, a: Attack) -> reqwest::RequestBuilder {
    match a {
        Attack::Evil => rb.header("origin", EVIL_ORIGIN),
        Attack::Null => rb.header("origin", "null"),
        Attack::CrossSite => rb
            .header("origin", &cx.target.web_origin)
            .header("sec-fetch-site", "cross-site"),
    }
}

async fn relay(cx: &Context, a: Attack) -> CaseResult {
    let s = cx.fresh().await?;
    let rb = cx
        .target
        .client
        .post(cx.target.web_url("/session"))
        .header(crate::context::RELAY_HEADER, s.code()?);
    let r = send(attack(cx, rb, a)).await?;
    let cookies = r
        .set_cookies()
        .iter()
        .filter(|c| !c.value.is_empty())
        .count();
    Ok(Verdict::check(r.status == 403 && cookies == 0, r.summary()))
}

async fn notes(cx: &Context, a: Attack) -> CaseResult {
    let w = cx.web_session(&cx.primary).await?;
    let marker = format!("origin-probe-{}", random_hex()?);
    let rb = cx.web_form(
        "/notes",
        &w.cookie_header(),
        &[("csrf_token", &w.form_token), ("body", &marker)],
    );
    let r = send(attack(cx, rb, a)).await?;
    let created = cx.note_bodies(&w.api).await?.contains(&marker);
    Ok(Verdict::check(
        r.status == 403 && !created,
        format!(
            "{}{}",
            r.status,
            if created {
                ", note created"
            } else {
                ", no note"
            }
        ),
    ))
}

async fn logout(cx: &Context, a: Attack) -> CaseResult {
    let w = cx.web_session(&cx.primary).await?;
    let rb = cx.web_form(
        "/logout",
        &w.cookie_header(),
        &[("csrf_token", &w.form_token)],
    );
    let r = send(attack(cx, rb, a)).await?;
    let live = cx.me_status(&w.api.access).await? == 200;
    Ok(Verdict::check(
        r.status == 403 && live,
        format!(
            "{}, session {}",
            r.summary(),
            if live { "live" } else { "ended" }
        ),
    ))
}

async fn session_evil(cx: &Context) -> CaseResult {
    relay(cx, Attack::Evil).await
}
async fn session_null(cx: &Context) -> CaseResult {
    relay(cx, Attack::Null).await
}
async fn session_cross_site(cx: &Context) -> CaseResult {
    relay(cx, Attack::CrossSite).await
}
async fn notes_evil(cx: &Context) -> CaseResult {
    notes(cx, Attack::Evil).await
}
async fn notes_null(cx: &Context) -> CaseResult {
    notes(cx, Attack::Null).await
}
async fn notes_cross_site(cx: &Context) -> CaseResult {
    notes(cx, Attack::CrossSite).await
}
async fn logout_evil(cx: &Context) -> CaseResult {
    logout(cx, Attack::Evil).await
}
async fn logout_null(cx: &Context) -> CaseResult {
    logout(cx, Attack::Null).await
}
async fn logout_cross_site(cx: &Context) -> CaseResult {
    logout(cx, Attack::CrossSite).await
}
