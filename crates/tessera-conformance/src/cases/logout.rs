//! After logout, old tokens are refused at once; relay codes never travel by GET or in a URL.

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{ApiSession, Context, RELAY_HEADER};
use crate::error::CaseError;
use crate::http::{Resp, pct, send};

/// The logout cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "logout.access-refused",
            "GET /auth/me with the access token after POST /auth/logout",
            "204, then 401",
            access_refused
        ),
        case!(
            "logout.refresh-refused",
            "POST /auth/refresh with the refresh token after POST /auth/logout",
            "204, then 401",
            refresh_refused
        ),
        case!(
            "logout.relay-by-get",
            "GET {web}/session with a valid relay code (header and query)",
            "4xx, no cookie",
            relay_by_get
        ),
        case!(
            "logout.relay-by-query",
            "POST {web}/session?code=… with a valid relay code",
            "4xx, no cookie",
            relay_by_query
        ),
    ]
}

async fn logged_out(cx: &Context) -> Result<(ApiSession, u16), CaseError> {
    let s = cx.fresh().await?;
    let r = send(
        cx.target
            .client
            .post(cx.target.api_url("/auth/logout"))
            .bearer_auth(&s.access),
    )
    .await?;
    Ok((s, r.status))
}

async fn access_refused(cx: &Context) -> CaseResult {
    let (s, logout) = logged_out(cx).await?;
    let me = cx.me_status(&s.access).await?;
    Ok(Verdict::check(
        (200..300).contains(&logout) && me == 401,
        format!("logout {logout}, then {me}"),
    ))
}

async fn refresh_refused(cx: &Context) -> CaseResult {
    let (s, logout) = logged_out(cx).await?;
    let r = cx.refresh_by_header(&s.refresh).await?.status;
    Ok(Verdict::check(
        (200..300).contains(&logout) && r == 401,
        format!("logout {logout}, then {r}"),
    ))
}

fn refused(r: &Resp) -> bool {
    (400..500).contains(&r.status) && r.set_cookies().iter().all(|c| c.value.is_empty())
}

async fn relay_by_get(cx: &Context) -> CaseResult {
    let s = cx.fresh().await?;
    let code = s.code()?;
    let header = send(
        cx.same_origin(
            cx.target
                .client
                .get(cx.target.web_url("/session"))
                .header(RELAY_HEADER, code),
        ),
    )
    .await?;
    let query = send(
        cx.same_origin(
            cx.target
                .client
                .get(cx.target.web_url(&format!("/session?code={}", pct(code)))),
        ),
    )
    .await?;
    Ok(Verdict::check(
        refused(&header) && refused(&query),
        format!("header {}, query {}", header.summary(), query.summary()),
    ))
}

async fn relay_by_query(cx: &Context) -> CaseResult {
    let s = cx.fresh().await?;
    let code = s.code()?;
    let url = cx.target.web_url(&format!("/session?code={}", pct(code)));
    let only = send(cx.same_origin(cx.target.client.post(&url))).await?;
    let both = send(
        cx.same_origin(cx.target.client.post(&url))
            .header(RELAY_HEADER, code),
    )
    .await?;
    Ok(Verdict::check(
        refused(&only) && refused(&both),
        format!("query {}, query+header {}", only.summary(), both.summary()),
    ))
}
