//! CSRF on the API: unsafe requests that authenticate by cookie need `X-CSRF-Token` of their
//! own session; JSON endpoints take only `application/json` (which closes simple-request CSRF).

use base64::Engine as _;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::json;

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{ApiSession, CSRF_HEADER, Context, random_hex};
use crate::error::CaseError;
use crate::http::send;

/// The CSRF cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "csrf.baseline",
            "Cookie-authenticated POST /notes with its CSRF token (control)",
            "201",
            baseline
        ),
        case!(
            "csrf.notes-missing",
            "Cookie-authenticated POST /notes without X-CSRF-Token",
            "403, no note",
            notes_missing
        ),
        case!(
            "csrf.notes-wrong",
            "Cookie-authenticated POST /notes with a forged or garbage X-CSRF-Token",
            "403, no note",
            notes_wrong
        ),
        case!(
            "csrf.notes-other-session",
            "Cookie-authenticated POST /notes with another session's CSRF token",
            "403, no note",
            notes_other_session
        ),
        case!(
            "csrf.logout-missing",
            "Cookie-authenticated POST /auth/logout without X-CSRF-Token",
            "403, session live",
            logout_missing
        ),
        case!(
            "csrf.refresh-missing",
            "POST /auth/refresh by refresh cookie without (or with another session's) X-CSRF-Token",
            "403, 403",
            refresh_missing
        ),
        case!(
            "csrf.text-plain",
            "text/plain bodies on /auth/login and /notes",
            "415, 415",
            text_plain
        ),
        case!(
            "csrf.form-urlencoded",
            "application/x-www-form-urlencoded bodies on /auth/login and /notes",
            "415, 415",
            form_urlencoded
        ),
        case!(
            "csrf.multipart",
            "multipart/form-data bodies on /auth/login and /notes",
            "415, 415",
            multipart
        ),
    ]
}

/// A cookie-authenticated `POST /notes` with a unique body and `csrf` (if any); passes when
/// the status is 403 and no note with that body exists afterwards.
async fn notes_refused(cx: &Context, csrf: &[Option<String>]) -> CaseResult {
    let s = &cx.main;
    let mut ok = true;
    let mut seen = Vec::new();
    for token in csrf {
        let marker = format!("csrf-probe-{}", random_hex()?);
        let mut rb = cx
            .target
            .client
            .post(cx.target.api_url("/notes"))
            .header(COOKIE, s.access_cookie_header())
            .json(&json!({ "body": marker }));
        if let Some(t) = token {
            rb = rb.header(CSRF_HEADER, t);
        }
        let r = send(rb).await?;
        let created = cx.note_bodies(s).await?.contains(&marker);
        ok &= r.status == 403 && !created;
        seen.push(if created {
            format!("{} (note created)", r.status)
        } else {
            r.status.to_string()
        });
    }
    Ok(Verdict::check(ok, seen.join(", ")))
}

/// A well-formed mask (88 characters of standard base64) of a secret nobody has.
fn forged_mask() -> Result<String, CaseError> {
    let bytes: Vec<u8> = (random_hex()? + &random_hex()? + &random_hex()? + &random_hex()?)
        .as_bytes()
        .chunks(2)
        .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect();
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

async fn baseline(cx: &Context) -> CaseResult {
    let s = &cx.main;
    let r = send(
        cx.target
            .client
            .post(cx.target.api_url("/notes"))
            .header(COOKIE, s.access_cookie_header())
            .header(CSRF_HEADER, &s.csrf)
            .json(&json!({ "body": "conformance: cookie + CSRF token" })),
    )
    .await?;
    Ok(Verdict::check(r.status == 201, r.status.to_string()))
}

async fn notes_missing(cx: &Context) -> CaseResult {
    notes_refused(cx, &[None]).await
}

async fn notes_wrong(cx: &Context) -> CaseResult {
    notes_refused(cx, &[Some(forged_mask()?), Some("undefined".to_owned())]).await
}

async fn notes_other_session(cx: &Context) -> CaseResult {
    notes_refused(cx, &[Some(cx.other.csrf.clone())]).await
}

async fn logout_missing(cx: &Context) -> CaseResult {
    let s = cx.fresh().await?;
    let r = send(
        cx.target
            .client
            .post(cx.target.api_url("/auth/logout"))
            .header(
                COOKIE,
                format!(
                    "{}; {}",
                    s.access_cookie_header(),
                    s.refresh_cookie_header()
                ),
            ),
    )
    .await?;
    let live = cx.me_status(&s.access).await?;
    Ok(Verdict::check(
        r.status == 403 && live == 200,
        format!(
            "{}, session {}",
            r.status,
            if live == 200 { "live" } else { "ended" }
        ),
    ))
}

async fn refresh_missing(cx: &Context) -> CaseResult {
    let s: ApiSession = cx.fresh().await?;
    let refresh = |csrf: Option<&str>| {
        let mut rb = cx
            .target
            .client
            .post(cx.target.api_url("/auth/refresh"))
            .header(COOKIE, s.refresh_cookie_header());
        if let Some(t) = csrf {
            rb = rb.header(CSRF_HEADER, t);
        }
        send(rb)
    };
    let missing = refresh(None).await?;
    let other = refresh(Some(&cx.other.csrf)).await?;
    Ok(Verdict::check(
        missing.status == 403 && other.status == 403,
        format!("{}, {}", missing.summary(), other.summary()),
    ))
}

/// Posts `body` as `content_type` to `/auth/login` (real credentials) and to `/notes`
/// (cookie + the right CSRF token): both must be 415.
async fn wrong_type(cx: &Context, content_type: &str, login: String, note: String) -> CaseResult {
    let s = &cx.main;
    let a = send(
        cx.target
            .client
            .post(cx.target.api_url("/auth/login"))
            .header(CONTENT_TYPE, content_type)
            .body(login),
    )
    .await?;
    let b = send(
        cx.target
            .client
            .post(cx.target.api_url("/notes"))
            .header(COOKIE, s.access_cookie_header())
            .header(CSRF_HEADER, &s.csrf)
            .header(CONTENT_TYPE, content_type)
            .body(note),
    )
    .await?;
    Ok(Verdict::check(
        a.status == 415 && b.status == 415,
        format!("login {}, notes {}", a.summary(), b.status),
    ))
}

fn creds_json(cx: &Context) -> String {
    json!({ "email": cx.primary.email, "password": cx.primary.password }).to_string()
}

async fn text_plain(cx: &Context) -> CaseResult {
    wrong_type(
        cx,
        "text/plain",
        creds_json(cx),
        json!({ "body": "conformance: text/plain" }).to_string(),
    )
    .await
}

async fn form_urlencoded(cx: &Context) -> CaseResult {
    let login = crate::http::form(&[
        ("email", &cx.primary.email),
        ("password", &cx.primary.password),
    ]);
    wrong_type(
        cx,
        "application/x-www-form-urlencoded",
        login,
        "body=conformance%3A+form".to_owned(),
    )
    .await
}

fn multipart_body(boundary: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in fields {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

async fn multipart(cx: &Context) -> CaseResult {
    let boundary = "tessera-conformance-boundary";
    let login = multipart_body(
        boundary,
        &[
            ("email", &cx.primary.email),
            ("password", &cx.primary.password),
        ],
    );
    let note = multipart_body(boundary, &[("body", "conformance: multipart")]);
    wrong_type(
        cx,
        &format!("multipart/form-data; boundary={boundary}"),
        login,
        note,
    )
    .await
}
