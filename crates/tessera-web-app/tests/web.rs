//! HTTP tests of the web server against real servers on loopback.
//!
//! Each test boots, in-process on `127.0.0.1:0`, the real API (`tessera_api::Api`) and the
//! real notes web app (`tessera_web_app::router`) on one manual clock (see [`support`]), and
//! drives them the way a browser running `tessera.js` does: log in on the API, relay the code
//! to `POST /session`, navigate, submit forms, refresh. Cookies are handled by hand so that
//! their attributes can be asserted.
//!
//! Two stand-ins replace real backends where the real one cannot show what is tested:
//! [`support::recorder`] records every request the web server makes (no `Cookie` ever
//! forwarded, Bearer and CSRF headers, no other host), and [`support::jwt_backend`] plays a
//! Rails API with jwt_sessions for token relay mode (Ruby cannot run on this machine).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use tessera_axum::RelayMode;
use tessera_core::csrf::unmask;
use tessera_core::token::{AccessTokenConfig, AccessTokens, Payload};
use tessera_core::{Clock as _, KeyAlgorithm, KeySet, ManualClock, SessionId, UserId};
use tessera_web::VerifyMode;

use support::jwt_backend::{self, JwtBackend};
use support::recorder::{Recorder, Script};
use support::{
    ACCESS_COOKIE, ApiOptions, ApiServer, CROSS_SITE, EVIL_ORIGIN, REFRESH_COOKIE, Site, Stack,
    WEB_COOKIE, WEB_ORIGIN, WebServer, attr, client, html_unescape, input_by_id, input_by_name,
    random_mask, send, url_encode, web_config,
};

// =========================================================================================
// 1. The relay endpoint
// =========================================================================================

/// The claims of a JWT, without verification.
fn claims_of(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// The CSRF secret a masked token stands for (pages may re-mask it on every response).
#[track_caller]
fn secret(masked: &str) -> [u8; 32] {
    unmask(masked).unwrap_or_else(|| panic!("not a masked CSRF token: {masked:?}"))
}

/// A JWT with the given header and claims and the given signature bytes.
fn forge(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_sets_one_strict_sealed_cookie_and_refuses_everything_else() {
    let s = Stack::start().await;
    s.create_user("alice@example.com").await;
    let login = s.api_login("alice@example.com").await;
    let code = login.relay_code.as_str();

    // Every refusal below carries the valid code and must neither set a cookie nor use the
    // code up: the code works at the end.
    let get = send(
        Site::SameOrigin
            .apply(s.web_req(Method::GET, "/session"))
            .header("x-relay-code", code),
    )
    .await;
    get.assert_refused(405, "GET /session");

    let in_query = send(
        Site::SameOrigin
            .apply(s.web_req(Method::POST, &format!("/session?code={}", url_encode(code)))),
    )
    .await;
    in_query.assert_refused(400, "code in the query string");
    let in_query_and_header = send(
        Site::SameOrigin
            .apply(s.web_req(Method::POST, &format!("/session?code={}", url_encode(code))))
            .header("x-relay-code", code),
    )
    .await;
    in_query_and_header.assert_refused(400, "code in the query string and the header");

    let refused_sites: [(&str, Site<'_>); 7] = [
        ("Sec-Fetch-Site: cross-site", CROSS_SITE),
        (
            "Sec-Fetch-Site: cross-site with our Origin",
            Site::Custom {
                fetch_site: Some("cross-site"),
                origin: Some(WEB_ORIGIN),
            },
        ),
        (
            "Sec-Fetch-Site: same-site",
            Site::Custom {
                fetch_site: Some("same-site"),
                origin: Some(WEB_ORIGIN),
            },
        ),
        (
            "Origin: https://evil.example",
            Site::Custom {
                fetch_site: None,
                origin: Some(EVIL_ORIGIN),
            },
        ),
        (
            "same-origin Fetch Metadata but a foreign Origin",
            Site::Custom {
                fetch_site: Some("same-origin"),
                origin: Some(EVIL_ORIGIN),
            },
        ),
        (
            "Origin: null",
            Site::Custom {
                fetch_site: None,
                origin: Some("null"),
            },
        ),
        (
            "neither Origin nor Fetch Metadata",
            Site::Custom {
                fetch_site: None,
                origin: None,
            },
        ),
    ];
    for (what, site) in refused_sites {
        let r = send(
            site.apply(s.web_req(Method::POST, "/session"))
                .header("x-relay-code", code),
        )
        .await;
        r.assert_refused(403, what);
    }

    let missing = send(Site::SameOrigin.apply(s.web_req(Method::POST, "/session"))).await;
    missing.assert_refused(400, "missing X-Relay-Code");
    let unknown = s.relay("not-a-real-code", None).await;
    unknown.assert_refused(401, "unknown relay code");

    // Now the real thing.
    let ok = s.relay(code, None).await;
    assert_eq!(ok.status, 204, "{}", ok.text());
    assert_eq!(ok.header("cache-control").as_deref(), Some("no-store"));
    let set = ok.cookie(WEB_COOKIE).expect("no web cookie");
    assert_eq!(ok.cookies().len(), 1, "only the web cookie is set");
    set.assert_host_policy();
    assert!(
        set.attr("max-age").is_some(),
        "a persistent cookie: {}",
        set.raw
    );
    assert!(!set.value.is_empty());
    assert!(!set.raw.contains("eyJ"), "a JWT in the cookie: {}", set.raw);

    // What it holds: the access token of this login, sealed (so not readable in the value).
    let held = s.web.open(&set.value).expect("the cookie does not open");
    assert!(held.access.starts_with("eyJ"), "the cookie holds a JWT");
    let (mine, logged_in) = (claims_of(&held.access), claims_of(&login.access));
    assert_eq!(
        mine["sid"], logged_in["sid"],
        "a token of this login's session"
    );
    assert_eq!(mine["sub"], logged_in["sub"]);
    assert!(!set.value.contains(&held.access));
    assert!(!set.value.contains(&login.access));
    assert!(!set.raw.contains(&login.refresh), "no refresh token");
    assert!(
        !s.web.open_raw(&set.value).unwrap().contains(&login.refresh),
        "no refresh token inside either"
    );
    assert_eq!(
        secret(&held.backend_csrf),
        secret(&login.csrf),
        "a mask of this session's CSRF secret"
    );
    assert_eq!(held.expires_at, mine["exp"]);
    assert_eq!(held.issued_at, mine["iat"]);
    assert_eq!(held.ident.as_deref(), mine["sid"].as_str());
    assert_eq!(
        s.web.open(&set.value.replace('A', "B")).map(|c| c.access),
        None,
        "a tampered cookie does not open"
    );

    // The page works with it.
    let html = s.page_ok("/", &set.value).await;
    assert!(html.contains("Your notes"));

    // Single use.
    let again = s.relay(code, None).await;
    again.assert_refused(401, "second use of a relay code");
    let again_with_cookie = s.relay(code, Some(&set.value)).await;
    again_with_cookie.assert_refused(401, "second use of a relay code, signed in");
}

/// A web server in token relay mode with JWKS verification, in front of a real API that puts
/// `access` in its login answers.
async fn token_mode_stack() -> Stack {
    Stack::with(
        ApiOptions {
            relay_mode: RelayMode::Token,
            ..ApiOptions::default()
        },
        |mut c| {
            c.relay_mode = RelayMode::Token;
            c.relay_secret = None;
            c
        },
    )
    .await
}

async fn relay_tokens(s: &Stack, access: &str, csrf: &str) -> support::Resp {
    send(
        Site::SameOrigin
            .apply(s.web_req(Method::POST, "/session"))
            .header("x-backend-access-token", access)
            .header("x-backend-csrf-token", csrf),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_relay_refuses_unsigned_foreign_and_expired_tokens() {
    let s = token_mode_stack().await;
    s.create_user("alice@example.com").await;
    let login = s.api_login("alice@example.com").await;
    let access = login.body["access"].as_str().unwrap().to_owned();
    let claims = claims_of(&access);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let kid = header["kid"].as_str().unwrap();

    // alg: none, with and without the real kid, empty signature.
    let none_kid = forge(
        &json!({ "alg": "none", "typ": "at+jwt", "kid": kid }),
        &claims,
        b"",
    );
    let none_bare = forge(&json!({ "alg": "none" }), &claims, b"");
    // Signed by another key set (its own kid, and the real kid pasted in).
    let other_keys = Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap());
    let other_tokens = AccessTokens::new(other_keys, AccessTokenConfig::default());
    let sub = UserId::new(claims["sub"].as_str().unwrap()).unwrap();
    let sid = SessionId::parse(claims["sid"].as_str().unwrap()).unwrap();
    let other = other_tokens
        .issue(&sub, &sid, &Payload::default(), s.clock.now())
        .unwrap()
        .token
        .expose()
        .to_owned();
    let mut parts = other.split('.');
    let other_header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let mut pasted = other_header.clone();
    pasted["kid"] = kid.into();
    let other_with_real_kid = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&pasted).unwrap()),
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    // Signed by the real key, for another audience.
    let wrong_aud = AccessTokens::new(
        s.api.keys.clone(),
        AccessTokenConfig {
            audience: "other".into(),
            ..AccessTokenConfig::default()
        },
    )
    .issue(&sub, &sid, &Payload::default(), s.clock.now())
    .unwrap()
    .token
    .expose()
    .to_owned();
    // HS256 keyed with the real Ed25519 public key (algorithm confusion).
    let jwks = s.api.api.sessions.jwks();
    let x = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    let hs_header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid });
    let hs_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&hs_header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    let hs_sig = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &x),
        hs_input.as_bytes(),
    );
    let confused = format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(hs_sig.as_ref()));

    for (what, token) in [
        ("alg none with the real kid", none_kid.as_str()),
        ("alg none", none_bare.as_str()),
        ("another key set", other.as_str()),
        ("another key set, real kid", other_with_real_kid.as_str()),
        ("another audience", wrong_aud.as_str()),
        ("HS256 keyed with the public key", confused.as_str()),
        ("garbage", "not.a.jwt"),
    ] {
        relay_tokens(&s, token, &login.csrf)
            .await
            .assert_refused(401, what);
    }

    // The genuine token is accepted, which gives the refusals above their meaning.
    let ok = relay_tokens(&s, &access, &login.csrf).await;
    assert_eq!(ok.status, 204, "{}", ok.text());
    let cookie = ok.cookie(WEB_COOKIE).unwrap();
    cookie.assert_host_policy();
    assert!(!cookie.raw.contains("eyJ"));
    s.page_ok("/", &cookie.value).await;

    // Missing either header.
    send(
        Site::SameOrigin
            .apply(s.web_req(Method::POST, "/session"))
            .header("x-backend-access-token", &access),
    )
    .await
    .assert_refused(400, "missing the CSRF header");

    // Expired: a real token of a live session, once its `exp` has passed.
    let login2 = s.api_login("alice@example.com").await;
    let access2 = login2.body["access"].as_str().unwrap().to_owned();
    s.advance(Duration::from_secs(15 * 60 + 1));
    relay_tokens(&s, &access2, &login2.csrf)
        .await
        .assert_refused(401, "an expired token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_relay_refuses_a_token_for_another_audience() {
    // An API whose tokens are for audience "other", and two web servers exchanging its codes
    // with the right relay secret: one expecting "tessera" (the default), one expecting "other".
    let clock = ManualClock::starting_now();
    let other_api = ApiServer::start(
        &clock,
        ApiOptions {
            audience: "other".into(),
            ..ApiOptions::default()
        },
    )
    .await;
    let strict = WebServer::start(
        web_config(&other_api.served.base, Some(&other_api.relay_secret)),
        &clock,
    );
    let mut matching_config = web_config(&other_api.served.base, Some(&other_api.relay_secret));
    matching_config.audience = "other".into();
    let matching = WebServer::start(matching_config, &clock);
    let http = client();

    let signup = send(
        http.post(other_api.served.url("/auth/signup"))
            .json(&json!({ "email": "a@example.com", "password": support::PASSWORD })),
    )
    .await;
    assert_eq!(signup.status, 201);
    let relay = |web: &WebServer, code: String| {
        let rb = Site::SameOrigin
            .apply(http.post(web.served.url("/session")))
            .header("x-relay-code", code);
        send(rb)
    };
    let login = || {
        send(
            http.post(other_api.served.url("/auth/login"))
                .json(&json!({ "email": "a@example.com", "password": support::PASSWORD })),
        )
    };

    let code = login().await.json()["relay_code"]
        .as_str()
        .unwrap()
        .to_owned();
    relay(&strict, code)
        .await
        .assert_refused(401, "a token for audience \"other\"");

    let code = login().await.json()["relay_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = relay(&matching, code).await;
    assert_eq!(ok.status, 204, "control: {}", ok.text());
}

// =========================================================================================
// 2. Server-side rendering
// =========================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_rendered_by_the_server_escaped_with_a_usable_backend_csrf() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;
    let bob = s.new_user("bob@example.com").await;
    let access = &alice.login.access;
    for body in [
        "first note",
        "<script>alert(1)</script>",
        "Tom & \"Jerry\" <b>bold</b>",
    ] {
        s.create_note(access, body).await;
    }
    s.create_note(&bob.login.access, "bob's private note").await;

    let r = s.page("/", Some(&alice.web)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/html; charset=utf-8")
    );
    let html = r.text();
    // The HTML as the server sent it already holds the notes (no script renders them),
    // escaped: the text of each note paragraph has no markup and reads back as the note.
    let rendered: Vec<String> = html
        .match_indices("<p class=\"note-body\">")
        .map(|(i, m)| {
            let text = &html[i + m.len()..];
            let text = &text[..text.find("</p>").unwrap()];
            assert!(!text.contains(['<', '>', '"']), "unescaped: {text}");
            html_unescape(text)
        })
        .collect();
    let mut sorted = rendered.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "<script>alert(1)</script>",
            "Tom & \"Jerry\" <b>bold</b>",
            "first note"
        ],
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "raw script in {html}");
    assert!(!html.contains("alert(1)</script>"), "raw script in {html}");
    assert!(!html.contains("<b>bold</b>"));
    assert!(!html.contains("bob's private note"), "another user's note");
    assert_eq!(html.matches("data-note-id=").count(), 3);

    // The backend CSRF input, exactly as specified.
    assert!(
        html.contains("<input type=\"hidden\" id=\"backend-csrf\" value=\""),
        "{html}"
    );
    let backend_csrf = input_by_id(&html, "backend-csrf").unwrap();
    assert_eq!(backend_csrf.len(), 88, "a masked token");
    // Tokens in pages are masked afresh on every response (no compression oracle), and
    // stand for the same secrets.
    let again = s.page_ok("/", &alice.web).await;
    let backend_again = input_by_id(&again, "backend-csrf").unwrap();
    assert_ne!(
        backend_again, backend_csrf,
        "the same backend CSRF mask twice"
    );
    assert_eq!(secret(&backend_again), secret(&backend_csrf));
    let (form1, form2) = (
        input_by_name(&html, "csrf_token").unwrap(),
        input_by_name(&again, "csrf_token").unwrap(),
    );
    assert_ne!(form1, form2, "the same synchronizer mask twice");
    assert_eq!(secret(&form1), secret(&form2));

    // The API accepts it as X-CSRF-Token on a cookie-authenticated POST...
    let post = |csrf: Option<String>| {
        let mut rb = s
            .api_req(Method::POST, "/notes")
            .header("origin", WEB_ORIGIN)
            .header("cookie", format!("{ACCESS_COOKIE}={access}"))
            .json(&json!({ "body": "posted by the page" }));
        if let Some(c) = csrf {
            rb = rb.header("x-csrf-token", c);
        }
        send(rb)
    };
    assert_eq!(post(None).await.status, 403, "no CSRF header");
    assert_eq!(
        post(Some(random_mask())).await.status,
        403,
        "a foreign mask"
    );
    let bob_page = s.page_ok("/", &bob.web).await;
    let bob_csrf = input_by_id(&bob_page, "backend-csrf").unwrap();
    assert_eq!(post(Some(bob_csrf)).await.status, 403, "bob's CSRF");
    let ok = post(Some(backend_csrf)).await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    // ...and the next render shows the result.
    assert!(
        s.page_ok("/", &alice.web)
            .await
            .contains("posted by the page")
    );
}

// =========================================================================================
// 3. The web server's own CSRF protection
// =========================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_synchronizer_token_and_a_same_origin_request() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;
    let bob = s.new_user("bob@example.com").await;
    let token = s.form_token(&alice.web).await;
    let bob_token = s.form_token(&bob.web).await;
    assert_ne!(token, bob_token);
    let w = Some(alice.web.as_str());

    // Missing, wrong, or someone else's token: 403 even from the same origin.
    let missing = s
        .form("/notes", w, Site::SameOrigin, &[("body", "missing")])
        .await;
    missing.assert_refused(403, "no synchronizer token");
    let wrong = random_mask();
    for (what, t) in [
        ("a wrong token", wrong.as_str()),
        ("garbage", "abc"),
        ("empty", ""),
        ("bob's token", bob_token.as_str()),
    ] {
        s.form(
            "/notes",
            w,
            Site::SameOrigin,
            &[("csrf_token", t), ("body", what)],
        )
        .await
        .assert_refused(403, what);
    }

    // The right token, but not same-origin: 403.
    let not_same_origin: [(&str, Site<'_>); 6] = [
        ("cross-site", CROSS_SITE),
        (
            "Sec-Fetch-Site: cross-site alone",
            Site::Custom {
                fetch_site: Some("cross-site"),
                origin: None,
            },
        ),
        (
            "Sec-Fetch-Site: same-site",
            Site::Custom {
                fetch_site: Some("same-site"),
                origin: Some(WEB_ORIGIN),
            },
        ),
        (
            "Origin: https://evil.example",
            Site::Custom {
                fetch_site: None,
                origin: Some(EVIL_ORIGIN),
            },
        ),
        (
            "Origin: null",
            Site::Custom {
                fetch_site: None,
                origin: Some("null"),
            },
        ),
        (
            "neither header",
            Site::Custom {
                fetch_site: None,
                origin: None,
            },
        ),
    ];
    for (what, site) in not_same_origin {
        s.form("/notes", w, site, &[("csrf_token", &token), ("body", what)])
            .await
            .assert_refused(403, what);
    }
    assert!(
        s.note_bodies(&alice.login.access).await.is_empty(),
        "a refused form created a note"
    );
    assert!(s.note_bodies(&bob.login.access).await.is_empty());

    // The right token from the same origin: the note is created, and the browser goes home.
    let ok = s
        .form(
            "/notes",
            w,
            Site::SameOrigin,
            &[("csrf_token", &token), ("body", "made by the form")],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(ok.header("location").as_deref(), Some("/"));
    // A browser without Fetch Metadata: our Origin is enough.
    let ok = s
        .form(
            "/notes",
            w,
            Site::OriginOnly,
            &[("csrf_token", &token), ("body", "origin only")],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text());
    let mut notes = s.note_bodies(&alice.login.access).await;
    notes.sort();
    assert_eq!(notes, ["made by the form", "origin only"]);

    // Deleting takes the token too.
    let html = s.page_ok("/", &alice.web).await;
    let id = attr(&html, "data-note-id").unwrap();
    let path = format!("/notes/{id}/delete");
    s.form(&path, w, Site::SameOrigin, &[("csrf_token", &bob_token)])
        .await
        .assert_refused(403, "delete with bob's token");
    s.form(&path, w, CROSS_SITE, &[("csrf_token", &token)])
        .await
        .assert_refused(403, "cross-site delete");
    assert_eq!(s.note_bodies(&alice.login.access).await.len(), 2);
    let ok = s
        .form(&path, w, Site::SameOrigin, &[("csrf_token", &token)])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(s.note_bodies(&alice.login.access).await.len(), 1);

    // Without a session, a form is sent to the login page (and does nothing).
    let anon = s
        .form(
            "/notes",
            None,
            Site::SameOrigin,
            &[("csrf_token", &token), ("body", "anon")],
        )
        .await;
    assert_eq!(anon.assert_login_redirect(), "/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronizer_secret_survives_a_refresh_but_not_a_new_login() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;
    let token = s.form_token(&alice.web).await;
    let first = s.web.open(&alice.web).unwrap();

    // tessera.js's refresh: the API rotates, the browser relays the new code with the web
    // cookie it holds.
    let r = s.api_refresh(&alice.login.refresh, &alice.login.csrf).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let code = r.json()["relay_code"].as_str().unwrap().to_owned();
    let refreshed = s.relay_ok(&code, Some(&alice.web)).await;
    let second = s.web.open(&refreshed).unwrap();
    assert_ne!(second.access, first.access, "a new access token");
    assert_eq!(second.form_secret, first.form_secret, "same form secret");
    let ok = s
        .form(
            "/notes",
            Some(&refreshed),
            Site::SameOrigin,
            &[("csrf_token", &token), ("body", "after refresh")],
        )
        .await;
    assert_eq!(
        ok.status,
        303,
        "the old page's form still works: {}",
        ok.text()
    );

    // A new login (same user, same browser, old cookie still there): a new form secret.
    let login = s.api_login("alice@example.com").await;
    let relogged = s.relay_ok(&login.relay_code, Some(&refreshed)).await;
    let third = s.web.open(&relogged).unwrap();
    assert_ne!(third.form_secret, first.form_secret);
    s.form(
        "/notes",
        Some(&relogged),
        Site::SameOrigin,
        &[("csrf_token", &token), ("body", "after login")],
    )
    .await
    .assert_refused(403, "a token of the previous login");
    let fresh = s.form_token(&relogged).await;
    let ok = s
        .form(
            "/notes",
            Some(&relogged),
            Site::SameOrigin,
            &[("csrf_token", &fresh), ("body", "fresh token")],
        )
        .await;
    assert_eq!(ok.status, 303);
    let mut notes = s.note_bodies(&login.access).await;
    notes.sort();
    assert_eq!(notes, ["after refresh", "fresh token"]);
}

// =========================================================================================
// 4. `next` redirects
// =========================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_is_only_ever_a_same_origin_path() {
    let s = Stack::start().await;
    for (next, expected) in [
        ("//evil.example", "/"),
        ("/\\evil", "/"),
        ("/\\/evil.example", "/"),
        ("https:evil", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/sessions?x=1", "/sessions?x=1"),
        ("/", "/"),
    ] {
        for page in ["/login", "/signup"] {
            let r = s
                .page(&format!("{page}?next={}", url_encode(next)), None)
                .await;
            assert_eq!(r.status, 200, "{page} {next:?}");
            let html = r.text();
            assert_eq!(
                attr(&html, "data-next").as_deref(),
                Some(expected),
                "{page}?next={next:?}"
            );
            assert!(!html.contains("evil.example"), "{page} {next:?}: {html}");
        }
    }
    // Absent `next` is home.
    assert_eq!(
        attr(&s.page("/login", None).await.text(), "data-next").as_deref(),
        Some("/")
    );

    // Pages without a session send the browser to log in, then back to what it asked for.
    for (path, next) in [
        ("/", "/"),
        ("/sessions", "/sessions"),
        ("/sessions?x=1", "/sessions?x=1"),
    ] {
        let r = s.page(path, None).await;
        assert_eq!(r.assert_login_redirect(), next, "{path}");
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        let location = r.header("location").unwrap();
        assert!(
            location.starts_with("/login?next=%2F") || location.starts_with("/login?next=/"),
            "{location}"
        );
    }
    // A cookie that does not open is no session.
    let r = s.page("/sessions", Some("forged-cookie-value")).await;
    assert_eq!(r.assert_login_redirect(), "/sessions");
}

// =========================================================================================
// 5. Silent refresh
// =========================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_gets_the_refresh_document_then_renders_after_a_relay() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;
    s.create_note(&alice.login.access, "survives the refresh")
        .await;
    assert!(
        s.page_ok("/", &alice.web)
            .await
            .contains("survives the refresh")
    );

    // 20 s before expiry, inside the 30 s margin: the refresh document, not the page.
    s.advance(Duration::from_secs(15 * 60 - 20));
    let r = s.page("/sessions?x=1", Some(&alice.web)).await;
    let csrf = r.assert_refresh_document("/sessions?x=1");
    assert_eq!(
        secret(&csrf),
        secret(&s.web.open(&alice.web).unwrap().backend_csrf),
        "a mask of the backend CSRF the cookie holds"
    );
    assert!(
        r.text()
            .contains("data-tessera-api=\"https://api.tessera.test\"")
    );
    let r = s.page("/", Some(&alice.web)).await;
    assert_eq!(secret(&r.assert_refresh_document("/")), secret(&csrf));
    assert!(
        !r.text().contains("survives the refresh"),
        "no page content"
    );

    // tessera.js: refresh on the API with the document's CSRF (a wrong one is refused)...
    let bad = s.api_refresh(&alice.login.refresh, &random_mask()).await;
    assert_eq!(bad.status, 403, "{}", bad.text());
    let ok = s.api_refresh(&alice.login.refresh, &csrf).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body = ok.json();
    // ...relay the new code with the cookie it holds...
    let code = body["relay_code"].as_str().unwrap();
    let renewed = s.relay_ok(code, Some(&alice.web)).await;
    let held = s.web.open(&renewed).unwrap();
    assert_eq!(
        secret(&held.backend_csrf),
        secret(body["csrf"].as_str().unwrap()),
        "the CSRF secret of the refreshed session"
    );
    // ...and reload: the page renders again.
    let html = s.page_ok("/", &renewed).await;
    assert!(html.contains("survives the refresh"));
    assert_eq!(
        secret(&input_by_id(&html, "backend-csrf").unwrap()),
        secret(&held.backend_csrf)
    );
    // The old cookie still asks for a refresh.
    s.page("/", Some(&alice.web))
        .await
        .assert_refresh_document("/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_margin_is_at_most_a_quarter_of_a_short_lifetime() {
    let s = Stack::with(
        ApiOptions {
            access_ttl: Duration::from_secs(8),
            ..ApiOptions::default()
        },
        |c| c,
    )
    .await;
    let alice = s.new_user("alice@example.com").await;
    let held = s.web.open(&alice.web).unwrap();
    assert_eq!(held.expires_at - held.issued_at, 8);

    // Right after login, the page (a 30 s margin would loop on the refresh document forever).
    let html = s.page_ok("/", &alice.web).await;
    assert_eq!(
        attr(&html, "data-tessera-refresh-margin").as_deref(),
        Some("2")
    );
    s.advance(Duration::from_secs(5));
    s.page_ok("/", &alice.web).await;
    // Two seconds (8 / 4) before expiry, the refresh document.
    s.advance(Duration::from_secs(1));
    s.page("/", Some(&alice.web))
        .await
        .assert_refresh_document("/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_api_refuses_gets_the_refresh_document() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;
    s.page_ok("/", &alice.web).await;

    // The session ends on the API directly (another tab, another device): the token is
    // still within its lifetime, but the API refuses it.
    let out = send(
        s.api_req(Method::POST, "/auth/logout")
            .bearer_auth(&alice.login.access),
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.text());
    let r = s.page("/sessions", Some(&alice.web)).await;
    let csrf = r.assert_refresh_document("/sessions");
    // tessera.js's refresh then fails, and it goes to the login page.
    let refresh = s.api_refresh(&alice.login.refresh, &csrf).await;
    assert_eq!(refresh.status, 401, "{}", refresh.text());
}

// =========================================================================================
// 6. What the web server sends to the API
// =========================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_server_sends_bearer_never_cookies_and_calls_only_its_api() {
    let clock = ManualClock::starting_now();
    let keys = Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap());
    let access = AccessTokens::new(keys.clone(), AccessTokenConfig::default())
        .issue(
            &UserId::new("user-1").unwrap(),
            &SessionId::generate().unwrap(),
            &Payload::default(),
            clock.now(),
        )
        .unwrap()
        .token
        .expose()
        .to_owned();
    let csrf = random_mask();
    let relay_secret = "recorder-relay-secret";
    let api = Recorder::start(Script {
        jwks: keys.jwks(),
        access: access.clone(),
        csrf: csrf.clone(),
        relay_secret: relay_secret.into(),
    });
    let elsewhere = Recorder::start(Script {
        jwks: json!({ "keys": [] }),
        access: access.clone(),
        csrf: csrf.clone(),
        relay_secret: relay_secret.into(),
    });
    let web = WebServer::start(web_config(&api.served.base, Some(relay_secret)), &clock);
    let http = client();

    // The browser carries the API's cookies too (on localhost both servers get them).
    let browser_cookies = format!(
        "{ACCESS_COOKIE}=browser-access-cookie; {REFRESH_COOKIE}=browser-refresh-cookie; theme=dark"
    );
    let r = send(
        Site::SameOrigin
            .apply(http.post(web.served.url("/session")))
            .header("x-relay-code", "code-1")
            .header("cookie", &browser_cookies),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let web_cookie = r.cookie(WEB_COOKIE).unwrap().value;
    let log = api.log();
    let relay = log
        .iter()
        .find(|r| r.path == "/auth/relay")
        .expect("no relay exchange");
    assert_eq!(relay.method, "POST");
    assert_eq!(
        relay.header("authorization"),
        [format!("Bearer {relay_secret}").as_str()]
    );
    let sent: Value = serde_json::from_str(&relay.body).unwrap();
    assert_eq!(sent, json!({ "code": "code-1" }));
    assert!(
        log.iter().any(|r| r.path == "/.well-known/jwks.json"),
        "the token was verified with the API's keys"
    );

    // A page and two forms, each carrying every cookie the browser has.
    let all_cookies = format!("{browser_cookies}; {WEB_COOKIE}={web_cookie}");
    let page = send(
        http.get(web.served.url("/"))
            .header("cookie", &all_cookies)
            .header("sec-fetch-site", "same-origin"),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("recorded note"));
    let token = input_by_name(&html, "csrf_token").unwrap();
    assert_eq!(
        secret(&input_by_id(&html, "backend-csrf").unwrap()),
        secret(&csrf),
        "the page embeds (a mask of) the relayed CSRF token"
    );
    for (path, fields) in [
        (
            "/notes",
            vec![("csrf_token", token.as_str()), ("body", "hello")],
        ),
        ("/notes/n1/delete", vec![("csrf_token", token.as_str())]),
    ] {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = send(
            Site::SameOrigin
                .apply(http.post(web.served.url(path)))
                .header("cookie", &all_cookies)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
        assert_eq!(r.status, 303, "{path}: {}", r.text());
    }

    let log = api.log();
    let find = |method: &str, path: &str| {
        log.iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path} in {log:#?}"))
    };
    let bearer = format!("Bearer {access}");
    let list = find("GET", "/notes");
    assert_eq!(list.header("authorization"), [bearer.as_str()]);
    assert!(
        list.header("x-csrf-token").is_empty(),
        "no CSRF on safe calls"
    );
    let create = find("POST", "/notes");
    assert_eq!(create.header("authorization"), [bearer.as_str()]);
    assert_eq!(create.header("x-csrf-token"), [csrf.as_str()]);
    assert_eq!(
        serde_json::from_str::<Value>(&create.body).unwrap(),
        json!({ "body": "hello" })
    );
    let delete = find("DELETE", "/notes/n1");
    assert_eq!(delete.header("authorization"), [bearer.as_str()]);
    assert_eq!(delete.header("x-csrf-token"), [csrf.as_str()]);

    for r in &log {
        assert!(
            r.header("cookie").is_empty(),
            "{} {} carried a Cookie header",
            r.method,
            r.path
        );
        assert_eq!(
            r.header("host"),
            [api.served.addr.to_string().as_str()],
            "{} {}",
            r.method,
            r.path
        );
        for (name, value) in &r.headers {
            for secret in ["browser-access-cookie", "browser-refresh-cookie", "theme"] {
                assert!(
                    !value.contains(secret),
                    "{} {}: {name} carries the browser's {secret}",
                    r.method,
                    r.path
                );
            }
            assert!(
                !value.contains(&web_cookie),
                "{name} carries the web cookie"
            );
        }
    }

    // An API answer that redirects elsewhere is not followed: no other host is ever called.
    api.clear();
    api.redirect_notes_to(&elsewhere.served.url("/notes"));
    let page = send(
        http.get(web.served.url("/"))
            .header("cookie", &all_cookies)
            .header("sec-fetch-site", "same-origin"),
    )
    .await;
    assert_eq!(page.status, 502, "{}", page.text());
    assert_eq!(api.log().len(), 1);
    assert!(
        elsewhere.log().is_empty(),
        "followed a redirect: {:?}",
        elsewhere.log()
    );
}

// =========================================================================================
// 7. Logout, logout everywhere, devices
// =========================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_api_session_and_clears_the_cookie() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;
    let w = Some(alice.web.as_str());
    let token = s.form_token(&alice.web).await;

    // GET does nothing.
    let get = s.page("/logout", w).await;
    get.assert_refused(405, "GET /logout");
    // Neither does a POST without the token, or a cross-site one.
    s.form("/logout", w, Site::SameOrigin, &[])
        .await
        .assert_refused(403, "logout without the token");
    s.form("/logout", w, CROSS_SITE, &[("csrf_token", &token)])
        .await
        .assert_refused(403, "cross-site logout");
    assert_eq!(s.api_get(&alice.login.access, "/notes").await.status, 200);

    let r = s
        .form("/logout", w, Site::SameOrigin, &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("data-tessera-page=\"logged-out\""),
        "{}",
        r.text()
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let cleared = r.cookie(WEB_COOKIE).expect("the web cookie is not cleared");
    cleared.assert_host_policy();
    assert_eq!(cleared.attr("max-age"), Some(Some("0")), "{}", cleared.raw);
    assert_eq!(cleared.value, "");

    // The API refuses the old access token at once.
    let r = s.api_get(&alice.login.access, "/notes").await;
    assert_eq!(r.status, 401, "{}", r.text());
    // Replaying the old web cookie: the refresh document (the API refuses the token), and
    // the refresh it leads to fails: the session is gone.
    let replay = s.page("/", w).await;
    let csrf = replay.assert_refresh_document("/");
    let refresh = s.api_refresh(&alice.login.refresh, &csrf).await;
    assert_eq!(refresh.status, 401, "{}", refresh.text());
    // Logging out again with the replayed cookie is harmless.
    let again = s
        .form("/logout", w, Site::SameOrigin, &[("csrf_token", &token)])
        .await;
    assert_eq!(again.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_everywhere_and_revoking_a_device_sign_other_sessions_out() {
    let s = Stack::start().await;
    let a1 = s.new_user("alice@example.com").await;
    let a2 = s.sign_in("alice@example.com").await;
    let a3 = s.sign_in("alice@example.com").await;
    let bob = s.new_user("bob@example.com").await;
    let token1 = s.form_token(&a1.web).await;
    let sid2 = s.session_id(&a2.login.access).await;

    // The device list is rendered by the server and lists the three sessions.
    let html = s.page_ok("/sessions", &a1.web).await;
    assert_eq!(html.matches("data-session-id=").count(), 3, "{html}");
    assert!(html.contains(&format!("data-session-id=\"{sid2}\"")));
    assert!(html.contains("This device"));

    // Revoking needs the token and same origin.
    let path = format!("/sessions/{sid2}/revoke");
    s.form(&path, Some(&a1.web), Site::SameOrigin, &[])
        .await
        .assert_refused(403, "revoke without the token");
    s.form(&path, Some(&a1.web), CROSS_SITE, &[("csrf_token", &token1)])
        .await
        .assert_refused(403, "cross-site revoke");
    assert_eq!(s.api_get(&a2.login.access, "/notes").await.status, 200);
    // Bob cannot revoke Alice's session.
    let bob_token = s.form_token(&bob.web).await;
    let r = s
        .form(
            &path,
            Some(&bob.web),
            Site::SameOrigin,
            &[("csrf_token", &bob_token)],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(s.api_get(&a2.login.access, "/notes").await.status, 200);

    let r = s
        .form(
            &path,
            Some(&a1.web),
            Site::SameOrigin,
            &[("csrf_token", &token1)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/sessions"));
    assert_eq!(s.api_get(&a2.login.access, "/notes").await.status, 401);
    s.page("/", Some(&a2.web))
        .await
        .assert_refresh_document("/");
    s.page_ok("/", &a1.web).await;
    s.page_ok("/", &a3.web).await;

    // Revoking the current device is a logout.
    let a4 = s.sign_in("alice@example.com").await;
    let sid4 = s.session_id(&a4.login.access).await;
    let token4 = s.form_token(&a4.web).await;
    let r = s
        .form(
            &format!("/sessions/{sid4}/revoke"),
            Some(&a4.web),
            Site::SameOrigin,
            &[("csrf_token", &token4)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("data-tessera-page=\"logged-out\""));
    assert_eq!(
        r.cookie(WEB_COOKIE).unwrap().attr("max-age"),
        Some(Some("0"))
    );
    assert_eq!(s.api_get(&a4.login.access, "/notes").await.status, 401);

    // Logout everywhere from the first device ends the third one too, not Bob's.
    s.form("/logout-all", Some(&a1.web), Site::SameOrigin, &[])
        .await
        .assert_refused(403, "logout-all without the token");
    let r = s
        .form(
            "/logout-all",
            Some(&a1.web),
            Site::SameOrigin,
            &[("csrf_token", &token1)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("data-tessera-page=\"logged-out\""));
    let cleared = r.cookie(WEB_COOKIE).unwrap();
    cleared.assert_host_policy();
    assert_eq!(cleared.attr("max-age"), Some(Some("0")));
    for b in [&a1, &a3] {
        assert_eq!(s.api_get(&b.login.access, "/notes").await.status, 401);
        s.page("/", Some(&b.web)).await.assert_refresh_document("/");
    }
    s.page_ok("/", &bob.web).await;
}

// =========================================================================================
// 8. Page headers and the browser script
// =========================================================================================

#[track_caller]
fn assert_page_headers(r: &support::Resp, what: &str) {
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(
        csp.contains("connect-src 'self' https://api.tessera.test"),
        "{what}: {csp}"
    );
    assert_eq!(
        r.header("x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    // No inline script: every <script> loads the module from this origin.
    let html = r.text();
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(
            tag.contains("src=\"/assets/tessera.js\""),
            "{what}: inline script {tag}"
        );
    }
    assert!(!html.contains(" onclick="), "{what}: inline handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_strict_headers_and_the_script_keeps_no_tokens() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;

    for path in ["/", "/sessions"] {
        let r = s.page(path, Some(&alice.web)).await;
        assert_eq!(r.status, 200);
        assert_page_headers(&r, path);
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
    }
    for path in ["/login", "/signup"] {
        let r = s.page(path, None).await;
        assert_eq!(r.status, 200);
        assert_page_headers(&r, path);
    }
    let redirect = s.page("/", None).await;
    assert_eq!(redirect.status, 303);
    assert!(redirect.header("content-security-policy").is_some());
    s.advance(Duration::from_secs(15 * 60));
    let refresh = s.page("/", Some(&alice.web)).await;
    refresh.assert_refresh_document("/");
    assert_page_headers(&refresh, "refresh document");

    let js = s.page("/assets/tessera.js", None).await;
    assert_eq!(js.status, 200);
    let ct = js.header("content-type").unwrap();
    assert!(ct.starts_with("text/javascript"), "{ct}");
    assert_eq!(
        js.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let text = js.text();
    assert!(
        text.contains("export async function relay"),
        "the real script"
    );
    for forbidden in [
        "localStorage.setItem",
        "sessionStorage.setItem",
        "localStorage[",
        "sessionStorage[",
        "document.cookie =",
        "document.cookie=",
        "indexedDB",
    ] {
        assert!(!text.contains(forbidden), "tessera.js uses {forbidden}");
    }
    let css = s.page("/assets/tessera.css", None).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

// =========================================================================================
// 9. Token relay mode against a jwt_sessions-style backend
// =========================================================================================

#[test]
fn jwt_sessions_stand_in_reproduces_the_gem_vectors() {
    // §9 of jwt_sessions.md: made with the real gem.
    let a = "00000000-0000-4000-8000-00000000000a";
    assert_eq!(
        jwt_backend::hs256(
            &jwt_backend::access_payload(4_102_444_800, 42, a),
            jwt_backend::SIGNING_KEY
        ),
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDAsInVzZXJfaWQiOjQyLCJ1aWQiOiIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMGEifQ.KfuIu9Yyb-k6a8dHCcIMdqY5vUWW9udRYWj39ry7eC8"
    );
    assert_eq!(
        jwt_backend::hs256(
            r#"{"exp":4102444801,"user_id":42,"uid":"00000000-0000-4000-8000-00000000000b"}"#,
            jwt_backend::SIGNING_KEY
        ),
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDEsInVzZXJfaWQiOjQyLCJ1aWQiOiIwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMGIifQ.GT0MTzEglRZy0Zgd2kTlhHpQQHs13y1d8_39KAZfFp8"
    );
    let raw: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap());
    let pad_hex = "a5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e";
    let pad: [u8; 32] =
        std::array::from_fn(|i| u8::from_str_radix(&pad_hex[2 * i..2 * i + 2], 16).unwrap());
    let masked = jwt_backend::mask(&raw, &pad);
    assert_eq!(
        masked,
        "payzusHIz9bd5Ovy+QAHDhUcIyoxOD9GTVRbYmlwd36lrbG5xc3J0dXt4fn1DQkBBQ0xOSUtKVFVTUF5dW1pYQ=="
    );
    let secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert!(jwt_backend::gem_valid_csrf(&masked, secret));
    assert!(jwt_backend::gem_valid_csrf(secret, secret), "unmasked too");
    assert!(!jwt_backend::gem_valid_csrf(&random_mask(), secret));
    assert!(!jwt_backend::gem_valid_csrf("", secret));
    assert!(!jwt_backend::gem_valid_csrf("%%%", secret));
}

const RAILS_USER: (&str, &str, i64) = ("rails@example.com", "rails-password", 42);

/// A web server in token relay mode in front of the jwt_sessions stand-in.
fn rails_stack(clock: &ManualClock) -> (JwtBackend, WebServer) {
    let backend = JwtBackend::start(clock, &[RAILS_USER]);
    backend.add_note(42, "from the rails stand-in");
    let mut config = web_config(&backend.served.base, None);
    config.relay_mode = RelayMode::Token;
    config.verify = VerifyMode::Path("/me".into());
    config.backend.login_path = "/login".into();
    config.backend.refresh_path = "/refresh".into();
    config.backend.logout_path = "/logout".into();
    let web = WebServer::start(config, clock);
    (backend, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_relay_works_with_a_jwt_sessions_backend() {
    let clock = ManualClock::starting_now();
    let (backend, web) = rails_stack(&clock);
    let http = client();
    let login = backend.login(&http, RAILS_USER.0, RAILS_USER.1).await;
    // The login answer has the gem's shape, refresh token included.
    for field in [
        "csrf",
        "access",
        "access_expires_at",
        "refresh",
        "refresh_expires_at",
    ] {
        assert!(login.body[field].is_string(), "{field}");
    }
    assert_eq!(login.csrf.len(), 88);
    assert!(login.access.starts_with("eyJhbGciOiJIUzI1NiJ9."));

    let relay = |access: String, csrf: String| {
        send(
            Site::SameOrigin
                .apply(http.post(web.served.url("/session")))
                .header("X-Backend-Access-Token", access)
                .header("X-Backend-CSRF-Token", csrf)
                // The browser also has the backend's cookies; they must not reach it.
                .header(
                    "cookie",
                    "jwt_access=browser-cookie; jwt_refresh=browser-refresh",
                ),
        )
    };

    backend.clear_log();
    let r = relay(login.access.clone(), login.csrf.clone()).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let set = r.cookie(WEB_COOKIE).unwrap();
    set.assert_host_policy();
    assert!(!set.raw.contains("eyJ"));
    assert!(!set.raw.contains(&login.refresh));
    let plain = web.open_raw(&set.value).unwrap();
    assert!(
        !plain.contains(&login.refresh),
        "the refresh token is stored"
    );
    assert!(!plain.contains("refresh"), "{plain}");
    let held = web.open(&set.value).unwrap();
    assert_eq!(held.access, login.access);
    assert_eq!(held.backend_csrf, login.csrf);
    assert_eq!(held.expires_at, claims_of(&login.access)["exp"]);
    // Verified by one call to the verify path, with Bearer and no cookie.
    let log = backend.log();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("GET", "/me")
    );
    assert_eq!(
        log[0].header("authorization"),
        [format!("Bearer {}", login.access).as_str()]
    );
    assert!(log[0].header("cookie").is_empty());

    // A page renders the backend's data.
    let page = send(
        http.get(web.served.url("/"))
            .header(
                "cookie",
                format!("jwt_access=browser-cookie; {WEB_COOKIE}={}", set.value),
            )
            .header("sec-fetch-site", "same-origin"),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("from the rails stand-in"), "{html}");
    assert!(html.contains("data-tessera-relay-mode=\"token\""));
    assert!(html.contains("data-tessera-login-path=\"/login\""));
    assert_eq!(
        secret(&input_by_id(&html, "backend-csrf").unwrap()),
        secret(&login.csrf),
        "the page embeds (a mask of) the backend's CSRF token"
    );

    // A form posts to the backend with Bearer and the CSRF header (base64 with + / = intact).
    let token = input_by_name(&html, "csrf_token").unwrap();
    backend.clear_log();
    let r = send(
        Site::SameOrigin
            .apply(http.post(web.served.url("/notes")))
            .header("cookie", format!("{WEB_COOKIE}={}", set.value))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "csrf_token={}&body={}",
                url_encode(&token),
                url_encode("posted through the relay")
            )),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        backend.notes(42),
        ["from the rails stand-in", "posted through the relay"]
    );
    let log = backend.log();
    let post = log.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(
        post.header("authorization"),
        [format!("Bearer {}", login.access).as_str()]
    );
    assert_eq!(post.header("x-csrf-token"), [login.csrf.as_str()]);
    assert!(log.iter().all(|r| r.header("cookie").is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_relay_stores_nothing_the_jwt_sessions_backend_refuses() {
    let clock = ManualClock::starting_now();
    let (backend, web) = rails_stack(&clock);
    let http = client();
    let relay = |access: String, csrf: String| {
        send(
            Site::SameOrigin
                .apply(http.post(web.served.url("/session")))
                .header("X-Backend-Access-Token", access)
                .header("X-Backend-CSRF-Token", csrf),
        )
    };
    let now = clock.now().as_secs();
    let good = backend.login_session(42);

    // Signed with another key.
    let wrong_key = jwt_backend::hs256(
        &jwt_backend::access_payload(now + 3600, 42, &good.uid),
        b"not-the-signing-key",
    );
    // Unsigned.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(jwt_backend::access_payload(now + 3600, 42, &good.uid))
    );
    // Well signed, but for a uid the backend has no record of.
    let unknown_uid = jwt_backend::hs256(
        &jwt_backend::access_payload(now + 3600, 42, "00000000-0000-4000-8000-00000000000a"),
        jwt_backend::SIGNING_KEY,
    );
    // A real login whose session was flushed on the backend.
    let flushed = backend.login_session(42);
    backend.flush_access(&flushed.uid);
    // The refresh token relayed as if it were the access token.
    let refresh_as_access = good.refresh.clone();

    for (what, token) in [
        ("signed with another key", wrong_key),
        ("alg none", unsigned),
        ("unknown uid", unknown_uid),
        ("flushed session", flushed.access.clone()),
        ("the refresh token", refresh_as_access),
    ] {
        relay(token, good.csrf.clone())
            .await
            .assert_refused(401, what);
    }
    // Expired (the backend refuses it, and the web server would too).
    let expiring = backend.login_session(42);
    clock.advance(Duration::from_secs(
        u64::try_from(jwt_backend::ACCESS_EXP).unwrap(),
    ));
    relay(expiring.access.clone(), expiring.csrf.clone())
        .await
        .assert_refused(401, "expired");
    // Each refusal was the backend's answer to one verify call.
    let calls = backend.log().iter().filter(|r| r.path == "/me").count();
    assert_eq!(calls, 6);

    // A fresh login still works.
    let fresh = backend.login_session(42);
    let ok = relay(fresh.access.clone(), fresh.csrf.clone()).await;
    assert_eq!(ok.status, 204, "{}", ok.text());
}

// =========================================================================================
// 10. The current backend CSRF, for tessera.js's refresh under the cross-tab lock
// =========================================================================================

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_csrf_is_readable_by_the_page_only() {
    let s = Stack::start().await;
    let alice = s.new_user("alice@example.com").await;
    let get = |site: &'static str, mode: &'static str, cookie: Option<String>| {
        let mut rb = s
            .web_req(Method::GET, "/session/csrf")
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", mode);
        if let Some(c) = cookie {
            rb = rb.header("cookie", format!("{WEB_COOKIE}={c}"));
        }
        send(rb)
    };
    let ok = get("same-origin", "cors", Some(alice.web.clone())).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("cache-control").as_deref(), Some("no-store"));
    let csrf = ok.json()["csrf"].as_str().unwrap().to_owned();
    assert_eq!(
        secret(&csrf),
        secret(&alice.login.csrf),
        "a mask of the session's secret"
    );
    let again = get("same-origin", "cors", Some(alice.web.clone())).await;
    assert_ne!(again.json()["csrf"], ok.json()["csrf"], "masked afresh");

    assert_eq!(
        get("cross-site", "cors", Some(alice.web.clone()))
            .await
            .status,
        403
    );
    assert_eq!(
        get("same-site", "cors", Some(alice.web.clone()))
            .await
            .status,
        403
    );
    assert_eq!(
        get("same-origin", "navigate", Some(alice.web.clone()))
            .await
            .status,
        403
    );
    assert_eq!(get("same-origin", "cors", None).await.status, 401);
}
