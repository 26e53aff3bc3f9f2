//! HTTP integration tests against the real API server on loopback.
//!
//! Each test boots its own server (see [`testkit`]) with a manual clock, a fresh users
//! database and a relay secret, and talks to it with a real HTTP client that handles cookies
//! by hand. [`for_each_store!`] runs every test three times: on the in-memory session store,
//! on the SQLite session store (both with users and notes in SQLite), and on Redis sessions
//! with users and notes in PostgreSQL (`source scripts/services` first; each test gets its own
//! Redis key prefix and PostgreSQL schema).
//!
//! Not covered here:
//! - response timing of unknown-email vs wrong-password logins. The API does not expose the
//!   password hasher's counters, so the "one argon2 verification on every failure path" rule is
//!   left to `tessera_api::password`'s unit tests and the benchmark; this suite only proves the
//!   two answers are byte-identical.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod testkit;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use tessera_axum::RelayMode;
use tessera_core::{Clock as _, Timestamp};

use testkit::{
    ACCESS_COOKIE, ACCESS_TTL, GRACE, Login, ORIGIN, Options, PASSWORD, REFRESH_COOKIE,
    REFRESH_TTL, Resp, Store, TestServer, send,
};

/// Instantiates each listed `async fn(Store)` as a test on each combination of stores:
/// memory sessions + SQLite users, SQLite + SQLite, and Redis sessions + PostgreSQL users.
macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Memory).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Sqlite).await;
                }
            )*
        }
        mod postgres_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::PgRedis).await;
                }
            )*
        }
    };
}

for_each_store!(
    signup_rules,
    login_answers_fields_and_sets_strict_cookies,
    token_relay_mode_adds_access,
    unknown_email_and_wrong_password_look_the_same,
    throttle_counts_failures_per_normalised_email,
    successful_logins_do_not_count,
    throttle_counts_failures_per_ip,
    cookie_refresh_needs_this_sessions_csrf,
    cookie_refresh_rotates_with_a_grace_window,
    refresh_reuse_after_grace_revokes_the_session,
    header_refresh_needs_no_csrf_and_sets_no_cookies,
    relay_exchanges_a_code_once,
    relay_code_expires_after_30_seconds,
    relay_is_not_served_by_get,
    logout_clears_cookies_and_refuses_old_tokens,
    logout_with_expired_access_token_uses_refresh_cookie,
    logout_all_ends_only_this_users_sessions,
    me_and_session_list,
    revoking_sessions,
    password_change_ends_other_sessions,
    attack_alg_none,
    attack_key_confusion_hs256_with_public_key,
    attack_tampered_token,
    attack_wrong_audience_or_issuer,
    attack_other_tokens_as_bearer,
    attack_replayed_rotated_refresh_token,
    csrf_on_cookie_authenticated_notes,
    malformed_authorization_never_falls_back_to_cookie,
    other_users_notes_are_not_found,
    cors_allows_exactly_the_configured_origin,
    content_type_rules,
    body_size_limit,
    header_size_limit,
    malformed_json_has_no_parser_detail,
    no_store_on_every_auth_response,
    security_headers_without_tls,
    hsts_only_with_tls,
    notes_crud_newest_first,
    health_and_readiness,
    metrics_after_a_login,
    jwks_verifies_a_login_token,
    openapi_lists_exactly_the_served_routes,
    logs_hold_no_secrets,
    argon2_does_not_block_the_server,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn me(srv: &TestServer, access: &str) -> Resp {
    send(srv.get("/auth/me").bearer_auth(access)).await
}

async fn me_status(srv: &TestServer, access: &str) -> u16 {
    me(srv, access).await.status
}

async fn session_id(srv: &TestServer, access: &str) -> String {
    let r = me(srv, access).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["session"]["id"].as_str().unwrap().to_owned()
}

/// `POST /auth/refresh` with `cookies` and an optional CSRF header, no body.
async fn refresh_by_cookie(srv: &TestServer, cookies: &str, csrf: Option<&str>) -> Resp {
    let mut rb = srv
        .req(Method::POST, "/auth/refresh")
        .header("cookie", cookies);
    if let Some(csrf) = csrf {
        rb = rb.header("x-csrf-token", csrf);
    }
    send(rb).await
}

/// `POST /auth/refresh` with `X-Refresh-Token`.
async fn refresh_by_header(srv: &TestServer, token: &str) -> Resp {
    send(
        srv.req(Method::POST, "/auth/refresh")
            .header("x-refresh-token", token),
    )
    .await
}

async fn relay(srv: &TestServer, secret: &str, code: &str) -> Resp {
    send(
        srv.post_json("/auth/relay", &json!({ "code": code }))
            .bearer_auth(secret),
    )
    .await
}

async fn create_note(srv: &TestServer, access: &str, body: &str) -> Value {
    let r = send(
        srv.post_json("/notes", &json!({ "body": body }))
            .bearer_auth(access),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The `access_expires_at` a token issued now carries.
fn expected_expiry(srv: &TestServer) -> String {
    Timestamp::from_secs(srv.clock.now().plus(ACCESS_TTL).as_secs()).to_rfc3339()
}

fn random_word() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Asserts that a response clears both cookies with the same attributes they were set with.
#[track_caller]
fn assert_cookies_cleared(r: &Resp) {
    let access = r.cookie(ACCESS_COOKIE).expect("access cookie not cleared");
    access.assert_policy("/");
    assert_eq!(access.value, "");
    assert_eq!(access.max_age(), Some(0));
    let refresh = r
        .cookie(REFRESH_COOKIE)
        .expect("refresh cookie not cleared");
    refresh.assert_policy("/auth");
    assert_eq!(refresh.value, "");
    assert_eq!(refresh.max_age(), Some(0));
}

// Token forging, from raw parts (base64url + aws-lc-rs), never through the library under test.

fn b64e(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64d(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// The header and claims of a JWT.
fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header = serde_json::from_slice(&b64d(parts.next().unwrap())).unwrap();
    let claims = serde_json::from_slice(&b64d(parts.next().unwrap())).unwrap();
    (header, claims)
}

/// `base64url(header).base64url(claims).base64url(sign(input))`.
fn forge(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64e(&serde_json::to_vec(header).unwrap()),
        b64e(&serde_json::to_vec(claims).unwrap())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64e(&sig))
}

/// The server's real Ed25519 signing key (PKCS#8).
fn signing_key(srv: &TestServer) -> Ed25519KeyPair {
    let file = srv.keys.to_file();
    let entry = file
        .keys
        .iter()
        .find(|k| k.kid == file.active)
        .expect("active key");
    Ed25519KeyPair::from_pkcs8(&b64d(&entry.private)).unwrap()
}

fn sign_ed25519(srv: &TestServer) -> impl FnOnce(&[u8]) -> Vec<u8> {
    let key = signing_key(srv);
    move |input| key.sign(input).as_ref().to_vec()
}

fn hs256(secret: &[u8]) -> impl FnOnce(&[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    move |input| hmac::sign(&key, input).as_ref().to_vec()
}

/// Claims of a real token with a fresh `jti` (so that no verified-token cache can answer).
fn fresh_claims(token: &str) -> (Value, Value) {
    let (header, mut claims) = jwt_parts(token);
    claims["jti"] = random_word().into();
    (header, claims)
}

// ---------------------------------------------------------------------------------------------
// Signup and login
// ---------------------------------------------------------------------------------------------

async fn signup_rules(store: Store) {
    let srv = TestServer::new(store).await;

    let r = srv.signup("  Alice@Example.COM ", PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let body = r.json();
    assert_eq!(keys_of(&body), set(&["user"]));
    assert_eq!(keys_of(&body["user"]), set(&["id", "email"]));
    assert_eq!(body["user"]["email"], "alice@example.com");
    uuid::Uuid::parse_str(body["user"]["id"].as_str().unwrap()).unwrap();
    assert!(!r.text().contains(PASSWORD));
    assert!(!r.text().contains("argon2"));
    assert!(r.cookies().is_empty(), "signup must not log in");

    // The same address in another case is the same account.
    srv.signup("ALICE@example.com", "another good password")
        .await
        .assert_problem(409, "conflict");

    // Policy failures are 400 problems with a safe, specific detail.
    let r = srv.signup("bob@example.com", "short").await;
    r.assert_problem(400, "invalid");
    assert_eq!(
        r.json()["detail"],
        "the password must have at least 8 characters"
    );
    srv.signup("bob@example.com", "            ")
        .await
        .assert_problem(400, "invalid");
    srv.signup("bob@example.com", &"x".repeat(129))
        .await
        .assert_problem(400, "invalid");
    let r = srv.signup("not-an-email", PASSWORD).await;
    r.assert_problem(400, "invalid");
    assert_eq!(r.json()["detail"], "enter a valid email address");

    // None of the refused attempts created bob.
    srv.create_user("bob@example.com", PASSWORD).await;
    // And the normalised address logs in.
    srv.login("alice@example.com", PASSWORD).await;
}

async fn login_answers_fields_and_sets_strict_cookies(store: Store) {
    let srv = TestServer::new(store).await;
    let id = srv.create_user("alice@example.com", PASSWORD).await;
    let expiry = expected_expiry(&srv);
    let login = srv.login(" ALICE@Example.com", PASSWORD).await;
    let r = &login.resp;

    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = r.json();
    assert_eq!(
        keys_of(&body),
        set(&["csrf", "access_expires_at", "relay_code", "user"])
    );
    assert_eq!(
        body["user"],
        json!({ "id": id, "email": "alice@example.com" })
    );
    assert_eq!(body["access_expires_at"], expiry);
    assert!(login.csrf.len() >= 32);
    assert!(login.relay_code.len() >= 32);
    // In relay-code mode no token is in the body.
    assert!(!r.text().contains(&login.access));
    assert!(!r.text().contains(&login.refresh));

    let cookies = r.cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let access = r.cookie(ACCESS_COOKIE).unwrap();
    access.assert_policy("/");
    // The cookie lives as long as the token: `exp` is whole seconds, so 899 or 900.
    let age = access.max_age().unwrap();
    assert!((899..=900).contains(&age), "Max-Age {age}");
    assert_eq!(access.value.split('.').count(), 3, "access cookie is a JWT");
    let (header, claims) = jwt_parts(&access.value);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], srv.keys.active().kid());
    assert_eq!(claims["sub"], id.as_str());
    let refresh = r.cookie(REFRESH_COOKIE).unwrap();
    refresh.assert_policy("/auth");
    assert_eq!(
        refresh.max_age(),
        Some(i64::try_from(REFRESH_TTL.as_secs()).unwrap())
    );
    assert!(refresh.value.len() >= 43, "at least 256 random bits");

    // The access cookie authenticates safe requests on its own.
    let r = send(srv.get("/auth/me").header("cookie", login.access_cookie())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["user"]["id"], id.as_str());
}

async fn token_relay_mode_adds_access(store: Store) {
    let srv = Options::new(store)
        .relay_mode(RelayMode::Token)
        .start()
        .await;
    let login = srv.user("alice@example.com").await;
    let body = login.resp.json();
    assert_eq!(
        keys_of(&body),
        set(&["csrf", "access_expires_at", "relay_code", "user", "access"])
    );
    assert_eq!(body["access"], login.access.as_str());
    assert_eq!(me_status(&srv, body["access"].as_str().unwrap()).await, 200);

    // A cookie refresh in token mode also carries the new access token.
    let r = refresh_by_cookie(&srv, &login.cookies(), Some(&login.csrf)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(
        keys_of(&body),
        set(&["csrf", "access_expires_at", "relay_code", "access"])
    );
    assert_eq!(body["access"], r.cookie(ACCESS_COOKIE).unwrap().value);
}

async fn unknown_email_and_wrong_password_look_the_same(store: Store) {
    let srv = TestServer::new(store).await;
    srv.create_user("alice@example.com", PASSWORD).await;

    let wrong = srv
        .login_raw("alice@example.com", "wrong password 123")
        .await;
    let unknown = srv
        .login_raw("nobody@example.com", "wrong password 123")
        .await;
    let invalid = srv.login_raw("not an email", "wrong password 123").await;
    wrong.assert_problem(401, "unauthorized");
    for other in [&unknown, &invalid] {
        assert_eq!(other.status, wrong.status);
        assert_eq!(other.body, wrong.body, "bodies differ");
        let names = |r: &Resp| -> BTreeSet<String> {
            r.headers
                .keys()
                .map(|k| k.as_str().to_owned())
                .filter(|k| k != "date")
                .collect()
        };
        assert_eq!(names(other), names(&wrong));
        for (name, value) in &wrong.headers {
            if name != "date" {
                assert_eq!(other.headers.get(name), Some(value), "{name}");
            }
        }
        assert!(other.cookies().is_empty());
    }
}

async fn throttle_counts_failures_per_normalised_email(store: Store) {
    let srv = Options::new(store)
        .throttle(3, 100, Duration::from_secs(60))
        .start()
        .await;
    srv.create_user("alice@example.com", PASSWORD).await;
    srv.create_user("bob@example.com", PASSWORD).await;

    // Three spellings of one address share one counter.
    for email in [
        "alice@example.com",
        " ALICE@example.com",
        "Alice@Example.Com ",
    ] {
        srv.login_raw(email, "wrong password 123")
            .await
            .assert_problem(401, "unauthorized");
    }
    // Past the limit even the right password is refused, with Retry-After.
    let r = srv.login_raw("alice@example.com", PASSWORD).await;
    r.assert_problem(429, "too-many-requests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(r.cookies().is_empty());

    // An address without an account is throttled the same way.
    for _ in 0..3 {
        srv.login_raw("ghost@example.com", "wrong password 123")
            .await
            .assert_problem(401, "unauthorized");
    }
    srv.login_raw("GHOST@example.com", "wrong password 123")
        .await
        .assert_problem(429, "too-many-requests");

    // Other accounts are not affected.
    srv.login("bob@example.com", PASSWORD).await;

    // Once the window has passed, the right password works again.
    srv.advance(Duration::from_secs(30));
    srv.login_raw("alice@example.com", PASSWORD)
        .await
        .assert_problem(429, "too-many-requests");
    srv.advance(Duration::from_secs(31));
    srv.login("alice@example.com", PASSWORD).await;
}

async fn successful_logins_do_not_count(store: Store) {
    let srv = Options::new(store)
        .throttle(3, 100, Duration::from_secs(60))
        .start()
        .await;
    srv.create_user("alice@example.com", PASSWORD).await;
    for _ in 0..2 {
        srv.login_raw("alice@example.com", "wrong password 123")
            .await
            .assert_problem(401, "unauthorized");
    }
    for _ in 0..4 {
        srv.login("alice@example.com", PASSWORD).await;
    }
    // Two failures so far: the third is still answered normally...
    srv.login_raw("alice@example.com", "wrong password 123")
        .await
        .assert_problem(401, "unauthorized");
    // ...and only then does the limit hold.
    srv.login_raw("alice@example.com", PASSWORD)
        .await
        .assert_problem(429, "too-many-requests");
}

async fn throttle_counts_failures_per_ip(store: Store) {
    let srv = Options::new(store)
        .throttle(100, 5, Duration::from_secs(60))
        .start()
        .await;
    srv.create_user("alice@example.com", PASSWORD).await;
    for i in 0..4 {
        srv.login_raw(&format!("user{i}@example.com"), "wrong password 123")
            .await
            .assert_problem(401, "unauthorized");
    }
    srv.login("alice@example.com", PASSWORD).await;
    srv.login_raw("user4@example.com", "wrong password 123")
        .await
        .assert_problem(401, "unauthorized");
    // Five failures from this IP, on five addresses: the IP is now locked out.
    let r = srv.login_raw("alice@example.com", PASSWORD).await;
    r.assert_problem(429, "too-many-requests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    srv.login_raw("someone-else@example.com", "x")
        .await
        .assert_problem(429, "too-many-requests");

    srv.advance(Duration::from_secs(61));
    srv.login("alice@example.com", PASSWORD).await;
}

// ---------------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------------

async fn cookie_refresh_needs_this_sessions_csrf(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let a2 = srv.login("alice@example.com", PASSWORD).await;
    let b = srv.user("bob@example.com").await;

    let refused = [
        None,
        Some("not-a-csrf-token"),
        Some(""),
        Some(a2.csrf.as_str()),
        Some(b.csrf.as_str()),
    ];
    for csrf in refused {
        let r = refresh_by_cookie(&srv, &a.cookies(), csrf).await;
        r.assert_problem(403, "csrf");
        assert!(r.cookies().is_empty(), "{csrf:?}");
    }
    // Two CSRF headers (one right) are refused too.
    let r = send(
        srv.req(Method::POST, "/auth/refresh")
            .header("cookie", a.cookies())
            .header("x-csrf-token", a.csrf.as_str())
            .header("x-csrf-token", b.csrf.as_str()),
    )
    .await;
    r.assert_problem(403, "csrf");

    // Nothing rotated on the way: the refresh token and CSRF still work, even once the
    // browser has dropped the expired access cookie.
    let r = refresh_by_cookie(&srv, &a.refresh_cookie(), Some(&a.csrf)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A refresh without any cookie is a 401.
    refresh_by_cookie(&srv, "unrelated=1", Some(&a.csrf))
        .await
        .assert_problem(401, "unauthorized");
}

async fn cookie_refresh_rotates_with_a_grace_window(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    srv.advance(Duration::from_secs(2));
    let expiry = expected_expiry(&srv);

    let r1 = refresh_by_cookie(&srv, &a.cookies(), Some(&a.csrf)).await;
    assert_eq!(r1.status, 200, "{}", r1.text());
    assert_eq!(r1.header("cache-control").as_deref(), Some("no-store"));
    let body = r1.json();
    assert_eq!(
        keys_of(&body),
        set(&["csrf", "access_expires_at", "relay_code"])
    );
    assert_eq!(body["access_expires_at"], expiry);
    let access = r1.cookie(ACCESS_COOKIE).unwrap();
    access.assert_policy("/");
    let refresh = r1.cookie(REFRESH_COOKIE).unwrap();
    refresh.assert_policy("/auth");
    assert_ne!(access.value, a.access);
    assert_ne!(refresh.value, a.refresh);
    assert_ne!(body["csrf"], a.csrf.as_str(), "CSRF is masked afresh");
    let n1 = Login::from_response(r1.clone());
    assert_eq!(me_status(&srv, &n1.access).await, 200);
    assert_eq!(
        session_id(&srv, &n1.access).await,
        session_id(&srv, &a.access).await
    );
    // The session's absolute expiry does not move: the refresh cookie's Max-Age shrank.
    assert!(refresh.max_age().unwrap() < i64::try_from(REFRESH_TTL.as_secs()).unwrap());

    // The same (now superseded) token inside the grace window: the same successor.
    srv.advance(GRACE - Duration::from_secs(1));
    let r2 = refresh_by_cookie(&srv, &a.cookies(), Some(&a.csrf)).await;
    assert_eq!(r2.status, 200, "{}", r2.text());
    assert_eq!(r2.cookie(REFRESH_COOKIE).unwrap().value, n1.refresh);

    // The successor rotates on, with the CSRF of the refresh response.
    let r3 = refresh_by_cookie(&srv, &n1.cookies(), Some(&n1.csrf)).await;
    assert_eq!(r3.status, 200, "{}", r3.text());
    let n3 = r3.cookie(REFRESH_COOKIE).unwrap().value;
    assert_ne!(n3, n1.refresh);
    assert_ne!(n3, a.refresh);
}

async fn refresh_reuse_after_grace_revokes_the_session(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let other = srv.login("alice@example.com", PASSWORD).await;
    let n1 = Login::from_response(refresh_by_cookie(&srv, &a.cookies(), Some(&a.csrf)).await);

    srv.advance(GRACE + Duration::from_secs(1));
    let r = refresh_by_cookie(&srv, &a.cookies(), Some(&a.csrf)).await;
    r.assert_problem(401, "unauthorized");
    assert_cookies_cleared(&r);

    // The whole session is gone: the newest access token and refresh token too.
    assert_eq!(me_status(&srv, &n1.access).await, 401);
    refresh_by_cookie(&srv, &n1.cookies(), Some(&n1.csrf))
        .await
        .assert_problem(401, "unauthorized");
    // The user's other session lives on.
    assert_eq!(me_status(&srv, &other.access).await, 200);
}

async fn header_refresh_needs_no_csrf_and_sets_no_cookies(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let expiry = expected_expiry(&srv);

    let r = refresh_by_header(&srv, &a.refresh).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert!(r.cookies().is_empty());
    let body = r.json();
    assert_eq!(
        keys_of(&body),
        set(&["refresh", "access", "access_expires_at", "csrf"])
    );
    assert_eq!(body["access_expires_at"], expiry);
    let refresh = body["refresh"].as_str().unwrap();
    let access = body["access"].as_str().unwrap();
    assert_ne!(refresh, a.refresh);
    assert_eq!(me_status(&srv, access).await, 200);
    // The CSRF belongs to the session: it works with the session's access cookie.
    let r = send(
        srv.post_json("/notes", &json!({ "body": "hi" }))
            .header("cookie", a.access_cookie())
            .header("x-csrf-token", body["csrf"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // The new refresh token rotates on.
    let r = refresh_by_header(&srv, refresh).await;
    assert_eq!(r.status, 200, "{}", r.text());
    refresh_by_header(&srv, "garbage")
        .await
        .assert_problem(401, "unauthorized");
}

// ---------------------------------------------------------------------------------------------
// Relay
// ---------------------------------------------------------------------------------------------

async fn relay_exchanges_a_code_once(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let expiry = expected_expiry(&srv);

    let r = relay(&srv, &srv.relay_secret, &a.relay_code).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert!(r.cookies().is_empty());
    let body = r.json();
    assert_eq!(
        keys_of(&body),
        set(&["access", "access_expires_at", "csrf"])
    );
    assert_eq!(body["access_expires_at"], expiry);
    let access = body["access"].as_str().unwrap();
    // The token belongs to the login's session, and so does the CSRF.
    assert_eq!(
        session_id(&srv, access).await,
        session_id(&srv, &a.access).await
    );
    let r2 = send(
        srv.post_json("/notes", &json!({ "body": "from the relay" }))
            .header("cookie", a.access_cookie())
            .header("x-csrf-token", body["csrf"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r2.status, 201, "{}", r2.text());

    // Single use.
    relay(&srv, &srv.relay_secret, &a.relay_code)
        .await
        .assert_problem(401, "unauthorized");

    // A wrong secret is refused without consuming the code.
    let fresh = srv.login("alice@example.com", PASSWORD).await;
    relay(&srv, "not-the-relay-secret", &fresh.relay_code)
        .await
        .assert_problem(401, "unauthorized");
    let prefix = &srv.relay_secret[..srv.relay_secret.len() - 1];
    relay(&srv, prefix, &fresh.relay_code)
        .await
        .assert_problem(401, "unauthorized");
    send(srv.post_json("/auth/relay", &json!({ "code": fresh.relay_code })))
        .await
        .assert_problem(401, "unauthorized");
    // The user's own access token is not the relay secret.
    relay(&srv, &fresh.access, &fresh.relay_code)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(
        relay(&srv, &srv.relay_secret, &fresh.relay_code)
            .await
            .status,
        200
    );
    relay(&srv, &srv.relay_secret, "garbage")
        .await
        .assert_problem(401, "unauthorized");
}

async fn relay_code_expires_after_30_seconds(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let b = srv.login("alice@example.com", PASSWORD).await;
    srv.advance(Duration::from_secs(29));
    assert_eq!(
        relay(&srv, &srv.relay_secret, &b.relay_code).await.status,
        200
    );
    srv.advance(Duration::from_secs(2));
    relay(&srv, &srv.relay_secret, &a.relay_code)
        .await
        .assert_problem(401, "unauthorized");
}

async fn relay_is_not_served_by_get(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let path = format!("/auth/relay?code={}", a.relay_code);
    for p in ["/auth/relay", path.as_str()] {
        let r = send(srv.get(p).bearer_auth(&srv.relay_secret)).await;
        assert!(r.status == 405 || r.status == 404, "GET {p}: {}", r.status);
        assert!(!r.text().contains("access"));
        if r.status == 405 {
            r.assert_problem(405, "method-not-allowed");
        }
    }
    // The code was not consumed by the GETs.
    assert_eq!(
        relay(&srv, &srv.relay_secret, &a.relay_code).await.status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Logout, devices, password
// ---------------------------------------------------------------------------------------------

async fn logout_clears_cookies_and_refuses_old_tokens(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let b = srv.login("alice@example.com", PASSWORD).await;

    // By cookie, CSRF is required.
    let r = send(
        srv.req(Method::POST, "/auth/logout")
            .header("cookie", a.cookies()),
    )
    .await;
    r.assert_problem(403, "csrf");
    assert_eq!(me_status(&srv, &a.access).await, 200);

    let r = send(
        srv.req(Method::POST, "/auth/logout")
            .header("cookie", a.cookies())
            .header("x-csrf-token", &a.csrf),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_cookies_cleared(&r);

    // Everything of that session is refused at once.
    assert_eq!(me_status(&srv, &a.access).await, 401);
    let r = send(srv.get("/auth/me").header("cookie", a.access_cookie())).await;
    r.assert_problem(401, "unauthorized");
    refresh_by_cookie(&srv, &a.cookies(), Some(&a.csrf))
        .await
        .assert_problem(401, "unauthorized");
    refresh_by_header(&srv, &a.refresh)
        .await
        .assert_problem(401, "unauthorized");
    relay(&srv, &srv.relay_secret, &a.relay_code)
        .await
        .assert_problem(401, "unauthorized");

    // By Bearer, no CSRF is needed; the other session was untouched until now.
    assert_eq!(me_status(&srv, &b.access).await, 200);
    let r = send(srv.req(Method::POST, "/auth/logout").bearer_auth(&b.access)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(me_status(&srv, &b.access).await, 401);
    // A second logout is not authenticated any more.
    send(srv.req(Method::POST, "/auth/logout").bearer_auth(&b.access))
        .await
        .assert_problem(401, "unauthorized");
}

async fn logout_with_expired_access_token_uses_refresh_cookie(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let b = srv.user("bob@example.com").await;
    srv.advance(ACCESS_TTL + Duration::from_secs(61));
    assert_eq!(
        me_status(&srv, &a.access).await,
        401,
        "access token expired"
    );

    // The refresh cookie alone is not enough: CSRF is required, and must be this session's.
    for csrf in [None, Some(b.csrf.as_str())] {
        let mut rb = srv
            .req(Method::POST, "/auth/logout")
            .header("cookie", a.cookies());
        if let Some(c) = csrf {
            rb = rb.header("x-csrf-token", c);
        }
        send(rb).await.assert_problem(403, "csrf");
    }
    let r = send(
        srv.req(Method::POST, "/auth/logout")
            .header("cookie", a.cookies())
            .header("x-csrf-token", &a.csrf),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_cookies_cleared(&r);
    refresh_by_header(&srv, &a.refresh)
        .await
        .assert_problem(401, "unauthorized");
    // Bob's session is alive (refreshable).
    assert_eq!(refresh_by_header(&srv, &b.refresh).await.status, 200);
}

async fn logout_all_ends_only_this_users_sessions(store: Store) {
    let srv = TestServer::new(store).await;
    let a1 = srv.user("alice@example.com").await;
    let a2 = srv.login("alice@example.com", PASSWORD).await;
    let b = srv.user("bob@example.com").await;

    let r = send(
        srv.req(Method::POST, "/auth/logout-all")
            .bearer_auth(&a1.access),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_cookies_cleared(&r);
    assert_eq!(me_status(&srv, &a1.access).await, 401);
    assert_eq!(me_status(&srv, &a2.access).await, 401);
    refresh_by_header(&srv, &a2.refresh)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(me_status(&srv, &b.access).await, 200);
    assert_eq!(refresh_by_header(&srv, &b.refresh).await.status, 200);

    // By cookie it needs CSRF like any unsafe request.
    let a3 = srv.login("alice@example.com", PASSWORD).await;
    send(
        srv.req(Method::POST, "/auth/logout-all")
            .header("cookie", a3.cookies()),
    )
    .await
    .assert_problem(403, "csrf");
    assert_eq!(me_status(&srv, &a3.access).await, 200);
}

async fn me_and_session_list(store: Store) {
    let srv = TestServer::new(store).await;
    let id = srv.create_user("alice@example.com", PASSWORD).await;
    let a1 = srv
        .login_as("alice@example.com", PASSWORD, "Browser One/1.0")
        .await;
    let a2 = srv
        .login_as("alice@example.com", PASSWORD, "Browser Two/2.0")
        .await;

    let r = me(&srv, &a1.access).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let body = r.json();
    assert_eq!(keys_of(&body), set(&["user", "session"]));
    assert_eq!(
        body["user"],
        json!({ "id": id, "email": "alice@example.com" })
    );
    assert_eq!(body["session"]["current"], true);
    assert_eq!(body["session"]["user_agent"], "Browser One/1.0");
    assert_eq!(body["session"]["ip"], "127.0.0.1");
    let sid1 = body["session"]["id"].as_str().unwrap().to_owned();
    let sid2 = session_id(&srv, &a2.access).await;
    assert_ne!(sid1, sid2);

    let r = send(srv.get("/auth/sessions").bearer_auth(&a2.access)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for s in list {
        assert_eq!(
            keys_of(s),
            set(&[
                "id",
                "created_at",
                "last_used_at",
                "expires_at",
                "user_agent",
                "ip",
                "current"
            ])
        );
        assert_eq!(s["ip"], "127.0.0.1");
        let id = s["id"].as_str().unwrap();
        assert_eq!(s["current"], id == sid2, "{s}");
        let ua = if id == sid1 {
            "Browser One/1.0"
        } else {
            assert_eq!(id, sid2);
            "Browser Two/2.0"
        };
        assert_eq!(s["user_agent"], ua);
    }
    // No secrets in the device list.
    for secret in [&a1.access, &a1.refresh, &a2.access, &a2.refresh] {
        assert!(!r.text().contains(secret.as_str()));
    }

    // Another user sees only their own session.
    let b = srv.user("bob@example.com").await;
    let r = send(srv.get("/auth/sessions").bearer_auth(&b.access)).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    send(srv.get("/auth/sessions"))
        .await
        .assert_problem(401, "unauthorized");
}

async fn revoking_sessions(store: Store) {
    let srv = TestServer::new(store).await;
    let a1 = srv.user("alice@example.com").await;
    let a2 = srv.login("alice@example.com", PASSWORD).await;
    let b = srv.user("bob@example.com").await;
    let sid_a1 = session_id(&srv, &a1.access).await;
    let sid_a2 = session_id(&srv, &a2.access).await;
    let sid_b = session_id(&srv, &b.access).await;
    let delete = |sid: String, access: String| {
        let rb = srv
            .req(Method::DELETE, &format!("/auth/sessions/{sid}"))
            .bearer_auth(access);
        send(rb)
    };

    // Another user's session: 404, and it lives on.
    delete(sid_b.clone(), a1.access.clone())
        .await
        .assert_problem(404, "not-found");
    assert_eq!(me_status(&srv, &b.access).await, 200);
    delete("not-a-session-id".into(), a1.access.clone())
        .await
        .assert_problem(404, "not-found");

    // One's own other session: 204, and it is dead at once.
    let r = delete(sid_a2.clone(), a1.access.clone()).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.cookies().is_empty(), "revoking another device keeps mine");
    assert_eq!(me_status(&srv, &a2.access).await, 401);
    refresh_by_header(&srv, &a2.refresh)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(me_status(&srv, &a1.access).await, 200);
    delete(sid_a2, a1.access.clone())
        .await
        .assert_problem(404, "not-found");

    // By cookie, CSRF is required.
    let r = send(
        srv.req(Method::DELETE, &format!("/auth/sessions/{sid_a1}"))
            .header("cookie", a1.access_cookie()),
    )
    .await;
    r.assert_problem(403, "csrf");

    // Revoking the current session also clears its cookies.
    let r = delete(sid_a1, a1.access.clone()).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_cookies_cleared(&r);
    assert_eq!(me_status(&srv, &a1.access).await, 401);
}

async fn password_change_ends_other_sessions(store: Store) {
    let srv = TestServer::new(store).await;
    let a1 = srv.user("alice@example.com").await;
    let a2 = srv.login("alice@example.com", PASSWORD).await;
    let b = srv.user("bob@example.com").await;
    let new_password = "a brand new passphrase";
    let change = |current: &str, new: &str| {
        send(
            srv.post_json(
                "/auth/password",
                &json!({ "current_password": current, "new_password": new }),
            )
            .bearer_auth(&a1.access),
        )
    };

    change("wrong password 123", new_password)
        .await
        .assert_problem(401, "unauthorized");
    change(PASSWORD, "short")
        .await
        .assert_problem(400, "invalid");
    assert_eq!(
        me_status(&srv, &a2.access).await,
        200,
        "refusals change nothing"
    );

    let r = change(PASSWORD, new_password).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(me_status(&srv, &a1.access).await, 200, "this session stays");
    assert_eq!(me_status(&srv, &a2.access).await, 401);
    refresh_by_header(&srv, &a2.refresh)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(me_status(&srv, &b.access).await, 200);

    srv.login_raw("alice@example.com", PASSWORD)
        .await
        .assert_problem(401, "unauthorized");
    srv.login("alice@example.com", new_password).await;
}

// ---------------------------------------------------------------------------------------------
// Attacks (design.md)
// ---------------------------------------------------------------------------------------------

async fn attack_alg_none(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let (header, claims) = fresh_claims(&a.access);

    // Control: the forging harness with the real key produces an accepted token.
    let control = forge(&header, &claims, sign_ed25519(&srv));
    assert_eq!(me_status(&srv, &control).await, 200);

    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut h = header.clone();
        h["alg"] = alg.into();
        let unsigned = forge(&h, &claims, |_| Vec::new());
        assert_eq!(me_status(&srv, &unsigned).await, 401, "{alg}");
        // Also with the cookie transport.
        let r = send(
            srv.get("/auth/me")
                .header("cookie", format!("{ACCESS_COOKIE}={unsigned}")),
        )
        .await;
        r.assert_problem(401, "unauthorized");
        // And keeping the original signature.
        let sig = a.access.rsplit('.').next().unwrap();
        let with_sig = format!("{unsigned}{sig}");
        assert_eq!(me_status(&srv, &with_sig).await, 401, "{alg}");
    }
}

async fn attack_key_confusion_hs256_with_public_key(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let (header, claims) = fresh_claims(&a.access);
    let public = signing_key(&srv).public_key().as_ref().to_vec();
    let jwks = send(srv.get("/.well-known/jwks.json")).await.json();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    assert_eq!(
        b64d(&x),
        public,
        "JWKS publishes the signing key's public half"
    );
    // SubjectPublicKeyInfo for Ed25519 (RFC 8410), as DER and PEM.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(&public);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&spki)
    );
    let jwk_text = serde_json::to_vec(&jwks["keys"][0]).unwrap();

    for alg in ["HS256", "HS384", "HS512"] {
        for secret in [
            public.as_slice(),
            x.as_bytes(),
            spki.as_slice(),
            pem.as_bytes(),
            pem.trim_end().as_bytes(),
            jwk_text.as_slice(),
        ] {
            let mut h = header.clone();
            h["alg"] = alg.into();
            let token = forge(&h, &claims, hs256(secret));
            assert_eq!(me_status(&srv, &token).await, 401, "{alg}");
        }
    }
}

async fn attack_tampered_token(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let b = srv.user("bob@example.com").await;
    let (header, claims) = jwt_parts(&a.access);
    let (_, b_claims) = jwt_parts(&b.access);
    let sig = a.access.rsplit('.').next().unwrap().to_owned();
    let resign = |claims: &Value| {
        format!(
            "{}.{}.{sig}",
            b64e(&serde_json::to_vec(&header).unwrap()),
            b64e(&serde_json::to_vec(claims).unwrap())
        )
    };

    // Bob's identity with Alice's signature.
    let mut c = claims.clone();
    c["sub"] = b_claims["sub"].clone();
    c["sid"] = b_claims["sid"].clone();
    assert_eq!(me_status(&srv, &resign(&c)).await, 401);
    // A longer life.
    let mut c = claims.clone();
    c["exp"] = (claims["exp"].as_i64().unwrap() + 3600).into();
    assert_eq!(me_status(&srv, &resign(&c)).await, 401);
    // An extra payload.
    let mut c = claims.clone();
    c["app"] = json!({ "role": "admin" });
    assert_eq!(me_status(&srv, &resign(&c)).await, 401);
    // A flipped bit in the signature.
    let mut raw = b64d(&sig);
    raw[10] ^= 0x01;
    let (head, _) = a.access.rsplit_once('.').unwrap();
    assert_eq!(
        me_status(&srv, &format!("{head}.{}", b64e(&raw))).await,
        401
    );
    // A truncated token, and garbage.
    assert_eq!(me_status(&srv, head).await, 401);
    assert_eq!(me_status(&srv, "a.b.c").await, 401);
    // The original still works (the tampering attempts did not revoke anything).
    assert_eq!(me_status(&srv, &a.access).await, 200);
}

async fn attack_wrong_audience_or_issuer(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let (header, claims) = fresh_claims(&a.access);

    // Control: signed with the real key, everything right.
    assert_eq!(
        me_status(&srv, &forge(&header, &claims, sign_ed25519(&srv))).await,
        200
    );
    let cases: Vec<(&str, Value)> = vec![
        ("aud", json!("another-service")),
        ("aud", json!(["another-service"])),
        ("aud", json!("")),
        ("iss", json!("https://evil.example")),
    ];
    for (claim, value) in cases {
        let mut c = claims.clone();
        c[claim] = value.clone();
        let token = forge(&header, &c, sign_ed25519(&srv));
        assert_eq!(me_status(&srv, &token).await, 401, "{claim} = {value}");
    }
    // Missing claims, and a wrong `typ`.
    let mut c = claims.clone();
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        me_status(&srv, &forge(&header, &c, sign_ed25519(&srv))).await,
        401
    );
    let mut h = header.clone();
    h["typ"] = "JWT".into();
    assert_eq!(
        me_status(&srv, &forge(&h, &claims, sign_ed25519(&srv))).await,
        401
    );
    // An unknown kid.
    let mut h = header.clone();
    h["kid"] = "someone-elses-key".into();
    assert_eq!(
        me_status(&srv, &forge(&h, &claims, sign_ed25519(&srv))).await,
        401
    );
}

async fn attack_other_tokens_as_bearer(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    for (what, token) in [
        ("refresh token", a.refresh.as_str()),
        ("relay code", a.relay_code.as_str()),
        ("csrf token", a.csrf.as_str()),
        ("relay secret", srv.relay_secret.as_str()),
    ] {
        let r = me(&srv, token).await;
        r.assert_problem(401, "unauthorized");
        let r = send(
            srv.get("/auth/me")
                .header("cookie", format!("{ACCESS_COOKIE}={token}")),
        )
        .await;
        assert_eq!(r.status, 401, "{what} as access cookie");
    }
    // The access token is not a refresh token either.
    refresh_by_header(&srv, &a.access)
        .await
        .assert_problem(401, "unauthorized");
    refresh_by_cookie(
        &srv,
        &format!("{REFRESH_COOKIE}={}", a.access),
        Some(&a.csrf),
    )
    .await
    .assert_problem(401, "unauthorized");
    // The refresh token is still good: none of this revoked the session.
    assert_eq!(refresh_by_header(&srv, &a.refresh).await.status, 200);
}

async fn attack_replayed_rotated_refresh_token(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let r = refresh_by_header(&srv, &a.refresh).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    let r1 = body["refresh"].as_str().unwrap().to_owned();
    let access1 = body["access"].as_str().unwrap().to_owned();
    let r2 = refresh_by_header(&srv, &r1).await.json()["refresh"]
        .as_str()
        .unwrap()
        .to_owned();

    // R0 is now two generations old: reuse even inside the grace window.
    refresh_by_header(&srv, &a.refresh)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(me_status(&srv, &access1).await, 401);
    refresh_by_header(&srv, &r2)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(me_status(&srv, &a.access).await, 401);
    // A stale cookie refresh of the dead session is refused too, and clears the cookies.
    let r = refresh_by_cookie(&srv, &a.cookies(), Some(&a.csrf)).await;
    r.assert_problem(401, "unauthorized");
    assert_cookies_cleared(&r);
}

async fn csrf_on_cookie_authenticated_notes(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let a2 = srv.login("alice@example.com", PASSWORD).await;
    let b = srv.user("bob@example.com").await;
    let post = |csrf: Option<&str>| {
        let mut rb = srv
            .post_json("/notes", &json!({ "body": "note" }))
            .header("cookie", a.access_cookie());
        if let Some(c) = csrf {
            rb = rb.header("x-csrf-token", c);
        }
        send(rb)
    };

    for csrf in [
        None,
        Some("wrong"),
        Some(""),
        Some(a2.csrf.as_str()),
        Some(b.csrf.as_str()),
    ] {
        post(csrf).await.assert_problem(403, "csrf");
    }
    assert_eq!(post(Some(&a.csrf)).await.status, 201);
    // Bearer requests are CSRF-exempt (browsers never add the header by themselves).
    let r = send(
        srv.post_json("/notes", &json!({ "body": "bearer note" }))
            .bearer_auth(&a.access),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // Safe methods need no CSRF; other unsafe methods do.
    let r = send(srv.get("/notes").header("cookie", a.access_cookie())).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["notes"].as_array().unwrap().len(),
        2,
        "refused posts created nothing"
    );
    let path = format!("/notes/{id}");
    send(
        srv.req(Method::PATCH, &path)
            .json(&json!({ "body": "edited" }))
            .header("cookie", a.access_cookie()),
    )
    .await
    .assert_problem(403, "csrf");
    send(
        srv.req(Method::DELETE, &path)
            .header("cookie", a.access_cookie()),
    )
    .await
    .assert_problem(403, "csrf");
    let r = send(
        srv.req(Method::DELETE, &path)
            .header("cookie", a.access_cookie())
            .header("x-csrf-token", &a.csrf),
    )
    .await;
    assert_eq!(r.status, 204);
}

async fn malformed_authorization_never_falls_back_to_cookie(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let with = |auth: &str| {
        send(
            srv.get("/auth/me")
                .header("cookie", a.access_cookie())
                .header("authorization", auth),
        )
    };
    // Control: the cookie alone works.
    let r = send(srv.get("/auth/me").header("cookie", a.access_cookie())).await;
    assert_eq!(r.status, 200);

    for bad in [
        "Bearer",
        "Bearer  ",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Token abc",
        "Bearer undefined",
        "Bearer null",
        "Bearer a b",
        "Bearer \"quoted\"",
        "bearer-token",
    ] {
        with(bad).await.assert_problem(401, "unauthorized");
    }
    // Two Authorization headers, even both valid.
    let r = send(
        srv.get("/auth/me")
            .header("cookie", a.access_cookie())
            .header("authorization", format!("Bearer {}", a.access))
            .header("authorization", format!("Bearer {}", a.access)),
    )
    .await;
    r.assert_problem(401, "unauthorized");
    // Cookie tossing: the access cookie twice is treated as absent.
    let r = send(srv.get("/auth/me").header(
        "cookie",
        format!("{}; {}", a.access_cookie(), a.access_cookie()),
    ))
    .await;
    r.assert_problem(401, "unauthorized");
    // The scheme is case-insensitive.
    assert_eq!(with(&format!("bearer {}", a.access)).await.status, 200);
}

async fn other_users_notes_are_not_found(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let b = srv.user("bob@example.com").await;
    let note = create_note(&srv, &a.access, "alice's secret").await;
    let path = format!("/notes/{}", note["id"].as_str().unwrap());

    send(srv.get(&path).bearer_auth(&b.access))
        .await
        .assert_problem(404, "not-found");
    send(
        srv.req(Method::PATCH, &path)
            .json(&json!({ "body": "bob was here" }))
            .bearer_auth(&b.access),
    )
    .await
    .assert_problem(404, "not-found");
    send(srv.req(Method::DELETE, &path).bearer_auth(&b.access))
        .await
        .assert_problem(404, "not-found");
    let r = send(srv.get("/notes").bearer_auth(&b.access)).await;
    assert_eq!(r.json()["notes"], json!([]));

    // Alice's note is untouched.
    let r = send(srv.get(&path).bearer_auth(&a.access)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), note);
    // Unknown and malformed ids are 404s too.
    for id in [uuid::Uuid::now_v7().to_string(), "not-an-id".to_owned()] {
        send(srv.get(&format!("/notes/{id}")).bearer_auth(&a.access))
            .await
            .assert_problem(404, "not-found");
    }
    // Without authentication: 401, not 404.
    send(srv.get(&path))
        .await
        .assert_problem(401, "unauthorized");
}

// ---------------------------------------------------------------------------------------------
// Transport rules
// ---------------------------------------------------------------------------------------------

async fn cors_allows_exactly_the_configured_origin(store: Store) {
    let srv = TestServer::new(store).await;
    srv.create_user("alice@example.com", PASSWORD).await;
    let has_vary_origin = |r: &Resp| {
        r.header_all("vary")
            .split(',')
            .any(|v| v.trim().eq_ignore_ascii_case("origin"))
    };

    // A credentialed call from the web origin.
    let r = send(
        srv.post_json(
            "/auth/login",
            &json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .header("origin", ORIGIN),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    assert_eq!(
        r.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert!(has_vary_origin(&r), "vary: {}", r.header_all("vary"));

    // The preflight.
    let preflight = |origin: &str| {
        send(
            srv.req(Method::OPTIONS, "/auth/login")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type,x-csrf-token",
                ),
        )
    };
    let r = preflight(ORIGIN).await;
    assert!((200..300).contains(&r.status), "{}", r.status);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    assert_eq!(
        r.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let methods = r.header_all("access-control-allow-methods");
    assert!(methods.contains("POST"), "{methods}");
    let headers = r.header_all("access-control-allow-headers").to_lowercase();
    assert!(headers.contains("x-csrf-token"), "{headers}");
    assert!(headers.contains("content-type"), "{headers}");
    assert!(has_vary_origin(&r));

    // Foreign origins, look-alikes and `null` get no Access-Control-Allow-Origin at all.
    for origin in [
        "https://evil.example",
        "null",
        "http://app.tessera.test",
        "https://app.tessera.test.evil.example",
        "https://evil.app.tessera.test",
        "https://app.tessera.test:8443",
    ] {
        let r = send(srv.get("/healthz").header("origin", origin)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
        assert!(has_vary_origin(&r), "{origin}");
        let r = preflight(origin).await;
        assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
        let r = send(
            srv.post_json(
                "/auth/login",
                &json!({ "email": "alice@example.com", "password": PASSWORD }),
            )
            .header("origin", origin),
        )
        .await;
        assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
    }
    // No origin at all: no CORS headers.
    let r = send(srv.get("/healthz")).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

async fn content_type_rules(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let creds = json!({ "email": "alice@example.com", "password": PASSWORD }).to_string();

    for (ct, body) in [
        ("text/plain", creds.clone()),
        ("text/plain;charset=UTF-8", creds.clone()),
        (
            "application/x-www-form-urlencoded",
            format!("email=alice%40example.com&password={PASSWORD}"),
        ),
        (
            "multipart/form-data; boundary=XYZ",
            "--XYZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nalice@example.com\r\n--XYZ--\r\n"
                .to_owned(),
        ),
        ("application/json-patch+json", creds.clone()),
        ("application/jsonx", creds.clone()),
    ] {
        let r = send(
            srv.req(Method::POST, "/auth/login")
                .header("content-type", ct)
                .body(body),
        )
        .await;
        r.assert_problem(415, "unsupported-media-type");
        assert!(r.cookies().is_empty(), "{ct}");
    }
    // A body without any content type.
    send(srv.req(Method::POST, "/auth/login").body(creds.clone()))
        .await
        .assert_problem(415, "unsupported-media-type");
    // The same on a resource, with Bearer.
    send(
        srv.req(Method::POST, "/notes")
            .bearer_auth(&a.access)
            .header("content-type", "text/plain")
            .body(r#"{"body":"x"}"#),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    // application/json with parameters is fine.
    let r = send(
        srv.req(Method::POST, "/auth/login")
            .header("content-type", "application/json; charset=utf-8")
            .body(creds),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Bodiless POSTs need no content type.
    let r = refresh_by_cookie(&srv, &a.cookies(), Some(&a.csrf)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let n = Login::from_response(r);
    let r = send(
        srv.req(Method::POST, "/auth/logout")
            .header("cookie", n.cookies())
            .header("x-csrf-token", &n.csrf),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
}

async fn body_size_limit(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let big = "x".repeat(70 * 1024);

    let r = srv.login_raw("alice@example.com", &big).await;
    r.assert_problem(413, "payload-too-large");
    let r = send(
        srv.post_json("/notes", &json!({ "body": big }))
            .bearer_auth(&a.access),
    )
    .await;
    r.assert_problem(413, "payload-too-large");

    // A chunked body (no Content-Length) over the limit.
    let chunk = format!("{{\"body\": \"{}", "y".repeat(8 * 1024));
    let mut req = format!(
        "POST /notes HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        srv.addr, a.access
    )
    .into_bytes();
    for _ in 0..9 {
        req.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (status, head) = srv.raw(req).await;
    assert_eq!(status, 413, "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );

    // Just under the limit is not a size problem (the note rule answers instead).
    let r = send(
        srv.post_json("/notes", &json!({ "body": "z".repeat(60 * 1024) }))
            .bearer_auth(&a.access),
    )
    .await;
    r.assert_problem(400, "invalid");
}

async fn header_size_limit(store: Store) {
    let srv = TestServer::new(store).await;
    let r = send(
        srv.get("/healthz")
            .header("x-filler", "a".repeat(17 * 1024)),
    )
    .await;
    r.assert_problem(431, "headers-too-large");
    // Many headers adding up past the limit.
    let mut rb = srv.get("/healthz");
    for i in 0..20 {
        rb = rb.header(format!("x-filler-{i}"), "b".repeat(1000));
    }
    send(rb).await.assert_problem(431, "headers-too-large");
    // Under the limit is fine.
    let r = send(
        srv.get("/healthz")
            .header("x-filler", "a".repeat(15 * 1024)),
    )
    .await;
    assert_eq!(r.status, 200);
}

async fn malformed_json_has_no_parser_detail(store: Store) {
    let srv = TestServer::new(store).await;
    for body in [
        r#"{"email": "alice@example.com", "password": "#,
        r#"{"email": "alice@example.com" "password": "x"}"#,
        "",
        "\u{feff}{}",
        "nul",
    ] {
        let r = send(
            srv.req(Method::POST, "/auth/login")
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(
            r.json()["type"],
            "urn:tessera:problem:malformed-json",
            "{body:?}: {}",
            r.text()
        );
        r.assert_problem(400, "malformed-json");
        let text = r.text().to_lowercase();
        assert!(r.json().get("detail").is_none(), "{text}");
        for word in ["line", "column", "eof", "expected", "serde", "at character"] {
            assert!(!text.contains(word), "{word} in {text}");
        }
    }
    // Well-formed JSON of the wrong shape: 400, with a fixed message only.
    for body in [
        json!({ "email": 1, "password": "x" }),
        json!({ "email": "a@example.com", "password": "x", "admin": true }),
        json!("a@example.com"),
        json!({ "email": "a@example.com" }),
    ] {
        let r = send(srv.post_json("/auth/login", &body)).await;
        r.assert_problem(400, "invalid");
        assert_eq!(r.json()["detail"], "unexpected JSON shape");
    }
    // An array is not an object, even though serde would map it onto the fields in order.
    let r = send(srv.post_json("/auth/login", &json!(["alice@example.com", PASSWORD]))).await;
    r.assert_problem(400, "invalid");
    assert!(r.cookies().is_empty());
}

async fn no_store_on_every_auth_response(store: Store) {
    let srv = TestServer::new(store).await;
    let signup = srv.signup("alice@example.com", PASSWORD).await;
    let login = srv.login("alice@example.com", PASSWORD).await;
    let refreshed = refresh_by_cookie(&srv, &login.cookies(), Some(&login.csrf)).await;
    let n = Login::from_response(refreshed.clone());
    let responses = vec![
        ("signup", signup),
        ("login", login.resp.clone()),
        ("refresh", refreshed),
        ("header refresh", refresh_by_header(&srv, &n.refresh).await),
        ("relay", relay(&srv, &srv.relay_secret, &n.relay_code).await),
        ("me", me(&srv, &n.access).await),
        (
            "sessions",
            send(srv.get("/auth/sessions").bearer_auth(&n.access)).await,
        ),
        ("jwks", send(srv.get("/.well-known/jwks.json")).await),
        (
            "failed login",
            srv.login_raw("alice@example.com", "nope nope nope").await,
        ),
        (
            "csrf refusal",
            refresh_by_cookie(&srv, &n.cookies(), None).await,
        ),
        ("unauthenticated", send(srv.get("/auth/me")).await),
        (
            "logout",
            send(srv.req(Method::POST, "/auth/logout").bearer_auth(&n.access)).await,
        ),
    ];
    for (what, r) in responses {
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-store"),
            "{what} ({})",
            r.status
        );
    }
}

async fn security_headers_without_tls(store: Store) {
    let srv = TestServer::new(store).await;
    srv.create_user("alice@example.com", PASSWORD).await;
    let login = srv.login_raw("alice@example.com", PASSWORD).await;
    let health = send(srv.get("/healthz")).await;
    let missing = send(srv.get("/no/such/route")).await;
    missing.assert_problem(404, "not-found");
    let failed = srv.login_raw("alice@example.com", "wrong password 1").await;
    for r in [&login, &health, &missing, &failed] {
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "no HSTS over plain HTTP"
        );
    }
}

async fn hsts_only_with_tls(store: Store) {
    let srv = Options::new(store).tls().start().await;
    assert!(srv.base.starts_with("https://"));
    let r = send(srv.get("/healthz")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=63072000; includeSubDomains")
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    // The whole login flow works over TLS, and HSTS is on the auth responses too.
    let login = srv.user("alice@example.com").await;
    assert!(login.resp.header("strict-transport-security").is_some());
    assert_eq!(me_status(&srv, &login.access).await, 200);
}

// ---------------------------------------------------------------------------------------------
// Resources and operations
// ---------------------------------------------------------------------------------------------

async fn notes_crud_newest_first(store: Store) {
    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let mut ids = Vec::new();
    for text in ["first", "second", "third"] {
        let note = create_note(&srv, &a.access, text).await;
        assert_eq!(
            keys_of(&note),
            set(&["id", "body", "created_at", "updated_at"])
        );
        assert_eq!(note["body"], text);
        assert_eq!(note["created_at"], note["updated_at"]);
        ids.push(note["id"].as_str().unwrap().to_owned());
        srv.advance(Duration::from_secs(1));
    }

    let r = send(srv.get("/notes").bearer_auth(&a.access)).await;
    assert_eq!(r.status, 200);
    let bodies: Vec<_> = r.json()["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["third", "second", "first"]);

    let path = format!("/notes/{}", ids[0]);
    let r = send(srv.get(&path).bearer_auth(&a.access)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"], "first");

    let r = send(
        srv.req(Method::PATCH, &path)
            .json(&json!({ "body": "first, edited" }))
            .bearer_auth(&a.access),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let edited = r.json();
    assert_eq!(edited["body"], "first, edited");
    assert_eq!(edited["id"], ids[0].as_str());
    assert_ne!(edited["updated_at"], edited["created_at"]);
    assert_eq!(
        send(srv.get(&path).bearer_auth(&a.access)).await.json()["body"],
        "first, edited"
    );

    let r = send(srv.req(Method::DELETE, &path).bearer_auth(&a.access)).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    send(srv.get(&path).bearer_auth(&a.access))
        .await
        .assert_problem(404, "not-found");
    let r = send(srv.get("/notes").bearer_auth(&a.access)).await;
    assert_eq!(r.json()["notes"].as_array().unwrap().len(), 2);

    // Validation.
    for bad in [
        json!({ "body": "" }),
        json!({ "body": "   " }),
        json!({ "body": "x".repeat(10_001) }),
    ] {
        send(srv.post_json("/notes", &bad).bearer_auth(&a.access))
            .await
            .assert_problem(400, "invalid");
    }
    send(
        srv.post_json("/notes", &json!({ "body": "x", "owner": "bob" }))
            .bearer_auth(&a.access),
    )
    .await
    .assert_problem(400, "invalid");
}

async fn health_and_readiness(store: Store) {
    let srv = TestServer::new(store).await;
    let r = send(srv.get("/healthz")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(r.json(), json!({ "status": "ok" }));

    let r = send(srv.get("/readyz")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = r.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["stores"]["sessions"]["kind"], store.name());
    assert_eq!(body["stores"]["sessions"]["status"], "up");
    assert_eq!(body["stores"]["database"]["status"], "up");
    assert_eq!(body["down"], json!([]));
}

async fn metrics_after_a_login(store: Store) {
    let srv = TestServer::new(store).await;
    srv.user("alice@example.com").await;
    let r = send(srv.get("/metrics")).await;
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.contains("tessera_http_requests_total"), "{text}");
    assert!(text.contains("tessera_events_total"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("tessera_events_total") && l.contains("event=\"login\"")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("tessera_http_requests_total")
                && l.contains("route=\"/auth/login\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
}

async fn jwks_verifies_a_login_token(store: Store) {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

    let srv = TestServer::new(store).await;
    let a = srv.user("alice@example.com").await;
    let r = send(srv.get("/.well-known/jwks.json")).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let doc = r.json();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert!(
        keys_of(k).is_subset(&set(&["kty", "crv", "x", "kid", "alg", "use"])),
        "private or unexpected members: {k}"
    );
    assert_eq!(k["kty"], "OKP");
    assert_eq!(k["crv"], "Ed25519");
    assert_eq!(k["alg"], "EdDSA");
    assert_eq!(k["kid"], srv.keys.active().kid());
    let file = srv.keys.to_file();
    assert!(!r.text().contains(&file.keys[0].private));
    assert!(!r.text().contains(&file.rotation_key));

    let set: JwkSet = serde_json::from_slice(&r.body).unwrap();
    let (header, _) = jwt_parts(&a.access);
    let jwk = set.find(header["kid"].as_str().unwrap()).unwrap();
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["tessera"]);
    validation.set_issuer(&["tessera"]);
    let data = decode::<Value>(&a.access, &key, &validation).unwrap();
    assert_eq!(data.claims["sub"], a.user_id.as_str());
    // A token from the relay verifies the same way; a tampered one does not.
    let relayed = relay(&srv, &srv.relay_secret, &a.relay_code).await.json();
    let token = relayed["access"].as_str().unwrap();
    decode::<Value>(token, &key, &validation).unwrap();
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut raw = b64d(sig);
    raw[0] ^= 0x80;
    assert!(decode::<Value>(format!("{head}.{}", b64e(&raw)), &key, &validation).is_err());
}

async fn openapi_lists_exactly_the_served_routes(store: Store) {
    use tessera_api::openapi::ROUTES;

    let srv = TestServer::new(store).await;
    let r = send(srv.get("/openapi.json")).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in [
            "get", "post", "put", "patch", "delete", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let listed: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(listed.len(), ROUTES.len(), "duplicate entries in ROUTES");
    assert_eq!(documented, listed);

    // Every listed route is served: a request built for it gets its documented success status.
    let email = "routes@example.com";
    srv.create_user(email, PASSWORD).await;
    for route in ROUTES {
        let login = srv.login(email, PASSWORD).await;
        let token = login.access.clone();
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let (path, rb) = match (route.method, route.path) {
            ("POST", "/auth/signup") => (
                route.path.to_owned(),
                srv.post_json(
                    route.path,
                    &json!({ "email": format!("{}@example.com", random_word()), "password": PASSWORD }),
                ),
            ),
            ("POST", "/auth/login") => (
                route.path.to_owned(),
                srv.post_json(route.path, &json!({ "email": email, "password": PASSWORD })),
            ),
            ("POST", "/auth/refresh") => (
                route.path.to_owned(),
                srv.req(Method::POST, route.path)
                    .header("cookie", login.cookies())
                    .header("x-csrf-token", &login.csrf),
            ),
            ("POST", "/auth/relay") => (
                route.path.to_owned(),
                srv.post_json(route.path, &json!({ "code": login.relay_code }))
                    .bearer_auth(&srv.relay_secret),
            ),
            ("POST", "/auth/password") => {
                // On a throwaway user, so the shared password stays.
                let other = format!("{}@example.com", random_word());
                let l = srv.user(&other).await;
                (
                    route.path.to_owned(),
                    srv.post_json(
                        route.path,
                        &json!({ "current_password": PASSWORD, "new_password": "a different passphrase" }),
                    )
                    .bearer_auth(&l.access),
                )
            }
            ("DELETE", "/auth/sessions/{id}") => {
                let victim = srv.login(email, PASSWORD).await;
                let sid = session_id(&srv, &victim.access).await;
                let path = format!("/auth/sessions/{sid}");
                (path.clone(), srv.req(method, &path).bearer_auth(&token))
            }
            ("POST", "/notes") => (
                route.path.to_owned(),
                srv.post_json(route.path, &json!({ "body": "n" }))
                    .bearer_auth(&token),
            ),
            (_, "/notes/{id}") => {
                let note = create_note(&srv, &token, "n").await;
                let path = format!("/notes/{}", note["id"].as_str().unwrap());
                let mut rb = srv.req(method, &path).bearer_auth(&token);
                if route.method == "PATCH" {
                    rb = rb.json(&json!({ "body": "m" }));
                }
                (path, rb)
            }
            (_, p) => {
                assert!(
                    !p.contains('{'),
                    "no request recipe for {} {p}: add one",
                    route.method
                );
                (p.to_owned(), srv.req(method, p).bearer_auth(&token))
            }
        };
        let r = send(rb).await;
        assert_eq!(
            r.status,
            route.ok,
            "{} {path} (documented {}): {}",
            route.method,
            route.ok,
            r.text()
        );
    }
}

async fn logs_hold_no_secrets(store: Store) {
    let srv = TestServer::new(store).await;
    let email = format!("{}@example.com", random_word());
    let password = format!("pw-{}", random_word());
    let wrong_password = format!("wrong-{}", random_word());
    let wrong_secret = format!("not-the-secret-{}", random_word());
    let user_id = srv.create_user(&email, &password).await;
    let mut secrets = vec![
        password.clone(),
        wrong_password.clone(),
        wrong_secret.clone(),
        srv.relay_secret.clone(),
    ];
    let mut headers = Vec::new();
    let mut keep = |r: &Resp, secrets: &mut Vec<String>| {
        for c in r.cookies() {
            headers.push(c.raw.clone());
            if !c.value.is_empty() {
                secrets.push(c.value.clone());
            }
        }
        if let Ok(body) = serde_json::from_slice::<Value>(&r.body)
            && let Some(obj) = body.as_object()
        {
            for key in ["access", "refresh", "csrf", "relay_code"] {
                if let Some(v) = obj.get(key).and_then(Value::as_str) {
                    secrets.push(v.to_owned());
                }
            }
        }
    };

    srv.login_raw(&email, &wrong_password)
        .await
        .assert_problem(401, "unauthorized");
    let login = srv.login(&email, &password).await;
    keep(&login.resp, &mut secrets);
    let cookie_header = login.cookies();
    let r = refresh_by_cookie(&srv, &cookie_header, Some(&login.csrf)).await;
    assert_eq!(r.status, 200);
    keep(&r, &mut secrets);
    let n = Login::from_response(r);
    let r = refresh_by_header(&srv, &n.refresh).await;
    assert_eq!(r.status, 200);
    keep(&r, &mut secrets);
    relay(&srv, &wrong_secret, &n.relay_code)
        .await
        .assert_problem(401, "unauthorized");
    let r = relay(&srv, &srv.relay_secret, &n.relay_code).await;
    assert_eq!(r.status, 200);
    keep(&r, &mut secrets);
    // Refused tokens must not be logged either.
    assert_eq!(me_status(&srv, &format!("{}x", n.access)).await, 401);
    let r = send(
        srv.req(Method::POST, "/auth/logout")
            .header("cookie", n.cookies())
            .header("x-csrf-token", &n.csrf),
    )
    .await;
    assert_eq!(r.status, 204);
    keep(&r, &mut secrets);
    let replayed = refresh_by_header(&srv, &login.refresh).await;
    assert_eq!(replayed.status, 401);

    secrets.push(cookie_header);
    secrets.push(n.cookies());
    secrets.push(format!("Bearer {}", srv.relay_secret));
    secrets.extend(headers);
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() >= 15, "{} secrets collected", secrets.len());

    // Let the server finish logging the last request.
    tokio::task::yield_now().await;
    let logs = testkit::logs::captured();
    // The capture works and saw this server's flow: the audit stream logs the user id.
    assert!(logs.contains("tessera::audit"), "no audit events captured");
    assert!(
        logs.contains(&user_id),
        "this test's events were not captured"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs: {}…",
            &secret[..secret.len().min(12)]
        );
    }
    // Key material never appears either.
    let file = srv.keys.to_file();
    assert!(!logs.contains(&file.rotation_key));
    assert!(!logs.contains(&file.keys[0].private));
}

async fn argon2_does_not_block_the_server(store: Store) {
    const LOGINS: usize = 10;
    let srv = Options::new(store).password_concurrency(1).start().await;
    srv.create_user("alice@example.com", PASSWORD).await;

    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..LOGINS {
        let rb = srv.post_json(
            "/auth/login",
            &json!({ "email": "alice@example.com", "password": PASSWORD }),
        );
        logins.spawn(async move { send(rb).await.status });
    }
    // Once the first login is through, the rest queue for the single hashing permit.
    let first = logins.join_next().await.unwrap().unwrap();
    assert_eq!(first, 200);
    let health = send(srv.get("/healthz")).await;
    assert_eq!(health.status, 200);
    let mut done = 1;
    while let Some(status) = logins.try_join_next() {
        assert_eq!(status.unwrap(), 200);
        done += 1;
    }
    assert!(
        done < LOGINS,
        "/healthz answered only after every login had finished"
    );
    while let Some(status) = logins.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
}
