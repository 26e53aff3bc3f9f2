//! A stand-in for the reference backend of token relay mode: a Rails API using the
//! jwt_sessions gem. That backend cannot run on this machine (no Ruby), so this small axum
//! server follows the gem's conventions exactly as `/work/shared/jwt_sessions.md` describes
//! them, and the test `jwt_sessions_stand_in_reproduces_the_gem_vectors` checks its tokens and
//! CSRF masks against the vectors made with the real gem (§9 there):
//!
//! - HS256 with the key `anchor-signing-key`, header `{"alg":"HS256"}` only, no `kid`, no
//!   JWKS; access claims `{"exp", <payload: "user_id">, "uid"}` in that order;
//! - login answers `{csrf, access, access_expires_at, refresh, refresh_expires_at}` with
//!   Rails-formatted times and an 88-character masked CSRF token (standard base64);
//! - access tokens are stateful: the `uid` must be in the access store;
//! - `Authorization` takes the last word of the header, cookie (`jwt_access`) only when the
//!   header is absent; `X-CSRF-Token` is checked only for cookie transport on non-GET/HEAD;
//! - every failure is the same `401 {"error":"Not authorized"}`;
//! - `GET /me` is the verify path; `GET/POST /notes` answer in Tessera's notes shape so the
//!   notes pages can render them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tessera_core::{Clock as _, ManualClock};

use super::Served;
use super::recorder::Recorded;

/// The gem's signing key in the vectors.
pub(crate) const SIGNING_KEY: &[u8] = b"anchor-signing-key";
/// `access_exp_time` default.
pub(crate) const ACCESS_EXP: i64 = 3600;
/// `refresh_exp_time` default.
pub(crate) const REFRESH_EXP: i64 = 604_800;
/// The access cookie the gem reads.
pub(crate) const ACCESS_COOKIE: &str = "jwt_access";

/// `base64url({"alg":"HS256"}) . base64url(payload) . HMAC-SHA256` with `key`.
pub(crate) fn hs256(payload_json: &str, key: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
        URL_SAFE_NO_PAD.encode(payload_json.as_bytes())
    );
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        signing_input.as_bytes(),
    );
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The gem's access payload, keys in the gem's order.
pub(crate) fn access_payload(exp: i64, user_id: i64, uid: &str) -> String {
    format!(r#"{{"exp":{exp},"user_id":{user_id},"uid":"{uid}"}}"#)
}

/// `base64(pad ‖ pad XOR raw)`, standard alphabet with padding.
pub(crate) fn mask(raw: &[u8; 32], pad: &[u8; 32]) -> String {
    let mut out = pad.to_vec();
    out.extend(pad.iter().zip(raw).map(|(p, r)| p ^ r));
    STANDARD.encode(out)
}

/// The gem's `valid_csrf?`: 32 bytes compare with the secret, 64 bytes are unmasked first,
/// anything else is false.
fn valid_csrf(presented: &str, secret_b64: &str) -> bool {
    let (Ok(p), Ok(raw)) = (STANDARD.decode(presented), STANDARD.decode(secret_b64)) else {
        return false;
    };
    let candidate: Vec<u8> = match p.len() {
        32 => p,
        64 => p[..32].iter().zip(&p[32..]).map(|(a, b)| a ^ b).collect(),
        _ => return false,
    };
    candidate.len() == raw.len()
        && candidate
            .iter()
            .zip(&raw)
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn random32() -> [u8; 32] {
    let mut b = [0_u8; 32];
    SystemRandom::new().fill(&mut b).unwrap();
    b
}

fn uuid_v4() -> String {
    let mut b = [0_u8; 16];
    SystemRandom::new().fill(&mut b).unwrap();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// How Rails formats a time in JSON: `2026-11-29T14:39:40.000+00:00`.
fn rails_time(secs: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[derive(Debug, Clone)]
struct AccessRecord {
    csrf: String,
    user_id: i64,
}

#[derive(Debug)]
struct Inner {
    clock: ManualClock,
    users: Vec<(String, String, i64)>,
    access: Mutex<HashMap<String, AccessRecord>>,
    refresh: Mutex<HashMap<String, (String, String)>>,
    notes: Mutex<HashMap<i64, Vec<String>>>,
    log: Mutex<Vec<Recorded>>,
}

/// The running stand-in.
#[derive(Debug)]
pub(crate) struct JwtBackend {
    /// Where it listens.
    pub(crate) served: Served,
    inner: Arc<Inner>,
}

/// What `POST /login` answered.
#[derive(Debug, Clone)]
pub(crate) struct JwtLogin {
    /// The masked CSRF token.
    pub(crate) csrf: String,
    /// The access JWT.
    pub(crate) access: String,
    /// The refresh JWT.
    pub(crate) refresh: String,
    /// The access token's `uid`.
    pub(crate) uid: String,
    /// The whole answer.
    pub(crate) body: Value,
}

impl JwtBackend {
    /// Starts the stand-in with `(email, password, user_id)` accounts.
    pub(crate) fn start(clock: &ManualClock, users: &[(&str, &str, i64)]) -> Self {
        let inner = Arc::new(Inner {
            clock: clock.clone(),
            users: users
                .iter()
                .map(|(e, p, id)| ((*e).to_owned(), (*p).to_owned(), *id))
                .collect(),
            access: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
            notes: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
        });
        let router = Router::new().fallback(answer).with_state(inner.clone());
        Self {
            served: Served::start(router),
            inner,
        }
    }

    /// Everything received so far.
    pub(crate) fn log(&self) -> Vec<Recorded> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Forgets what was received.
    pub(crate) fn clear_log(&self) {
        self.inner.log.lock().unwrap().clear();
    }

    /// Adds a note for a user.
    pub(crate) fn add_note(&self, user_id: i64, body: &str) {
        self.inner
            .notes
            .lock()
            .unwrap()
            .entry(user_id)
            .or_default()
            .push(body.to_owned());
    }

    /// A user's notes.
    pub(crate) fn notes(&self, user_id: i64) -> Vec<String> {
        self.inner
            .notes
            .lock()
            .unwrap()
            .get(&user_id)
            .cloned()
            .unwrap_or_default()
    }

    /// `flush_by_uid`: the access token with this `uid` stops working at once.
    pub(crate) fn flush_access(&self, uid: &str) {
        self.inner.access.lock().unwrap().remove(uid);
    }

    /// `Session#login` with a `{"user_id": …}` payload, the way a controller would call it.
    pub(crate) fn login_session(&self, user_id: i64) -> JwtLogin {
        login_session(&self.inner, user_id)
    }

    /// `POST /login` over HTTP, as the browser sends it.
    pub(crate) async fn login(&self, http: &reqwest::Client, email: &str, pw: &str) -> JwtLogin {
        let r = super::send(
            http.post(self.served.url("/login"))
                .json(&json!({ "email": email, "password": pw })),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        let access = body["access"].as_str().unwrap().to_owned();
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(access.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        JwtLogin {
            csrf: body["csrf"].as_str().unwrap().to_owned(),
            access,
            refresh: body["refresh"].as_str().unwrap().to_owned(),
            uid: claims["uid"].as_str().unwrap().to_owned(),
            body,
        }
    }
}

fn login_session(inner: &Inner, user_id: i64) -> JwtLogin {
    let now = inner.clock.now().as_secs();
    let raw = random32();
    let secret = STANDARD.encode(raw);
    let (access_uid, refresh_uid) = (uuid_v4(), uuid_v4());
    let access = hs256(
        &access_payload(now + ACCESS_EXP, user_id, &access_uid),
        SIGNING_KEY,
    );
    // refresh_payload defaults to {} in the gem; a controller that passes the user id
    // gets it in the refresh token too, as in the vectors.
    let refresh = hs256(
        &format!(
            r#"{{"exp":{},"user_id":{user_id},"uid":"{refresh_uid}"}}"#,
            now + REFRESH_EXP
        ),
        SIGNING_KEY,
    );
    inner.access.lock().unwrap().insert(
        access_uid.clone(),
        AccessRecord {
            csrf: secret.clone(),
            user_id,
        },
    );
    inner
        .refresh
        .lock()
        .unwrap()
        .insert(refresh_uid, (secret, access_uid.clone()));
    let csrf = mask(&raw, &random32());
    let body = json!({
        "csrf": csrf,
        "access": access,
        "access_expires_at": rails_time(now + ACCESS_EXP),
        "refresh": refresh,
        "refresh_expires_at": rails_time(now + REFRESH_EXP),
    });
    JwtLogin {
        csrf,
        access,
        refresh,
        uid: access_uid,
        body,
    }
}

fn not_authorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": "Not authorized" })),
    )
        .into_response()
}

/// `authorize_access_request!`: the record of a valid, live access token.
fn authorize(inner: &Inner, method: &str, headers: &HeaderMap) -> Option<AccessRecord> {
    let cookie_token = || {
        headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == ACCESS_COOKIE)
            .map(|(_, v)| v.to_owned())
    };
    let (token, by_cookie) = match headers.get("authorization") {
        // The last space-separated word, whatever the scheme.
        Some(v) => (v.to_str().ok()?.split(' ').next_back()?.to_owned(), false),
        None => (cookie_token()?, true),
    };
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, SIGNING_KEY),
        format!("{h}.{p}").as_bytes(),
        &sig,
    )
    .ok()?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    // ruby-jwt: expired when exp <= now (no leeway by default).
    if claims.get("exp").and_then(Value::as_i64)? <= inner.clock.now().as_secs() {
        return None;
    }
    let uid = claims.get("uid").and_then(Value::as_str)?;
    let record = inner.access.lock().unwrap().get(uid).cloned()?;
    if by_cookie && method != "GET" && method != "HEAD" {
        let presented = headers.get("x-csrf-token")?.to_str().ok()?;
        if !valid_csrf(presented, &record.csrf) {
            return None;
        }
    }
    Some(record)
}

async fn answer(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1024 * 1024).await.unwrap();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    inner.log.lock().unwrap().push(Recorded {
        method: method.clone(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(String::new, |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match (method.as_str(), path.as_str()) {
        ("POST", "/login") => {
            let Ok(creds) = serde_json::from_slice::<Value>(&body) else {
                return not_authorized();
            };
            let found = inner.users.iter().find(|(e, p, _)| {
                creds["email"].as_str() == Some(e.as_str())
                    && creds["password"].as_str() == Some(p.as_str())
            });
            match found {
                Some((_, _, id)) => axum::Json(login_session(&inner, *id).body).into_response(),
                None => not_authorized(),
            }
        }
        ("GET", "/me") => match authorize(&inner, &method, &parts.headers) {
            Some(rec) => axum::Json(json!({ "user_id": rec.user_id })).into_response(),
            None => not_authorized(),
        },
        ("GET", "/notes") => match authorize(&inner, &method, &parts.headers) {
            Some(rec) => {
                let notes = inner.notes.lock().unwrap().get(&rec.user_id).cloned();
                let list: Vec<Value> = notes
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        json!({
                            "id": format!("note-{i}"),
                            "body": b,
                            "created_at": rails_time(0),
                            "updated_at": rails_time(0),
                        })
                    })
                    .collect();
                axum::Json(json!({ "notes": list })).into_response()
            }
            None => not_authorized(),
        },
        ("POST", "/notes") => match authorize(&inner, &method, &parts.headers) {
            Some(rec) => {
                let Some(text) = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["body"].as_str().map(str::to_owned))
                else {
                    return StatusCode::UNPROCESSABLE_ENTITY.into_response();
                };
                inner
                    .notes
                    .lock()
                    .unwrap()
                    .entry(rec.user_id)
                    .or_default()
                    .push(text);
                StatusCode::CREATED.into_response()
            }
            None => not_authorized(),
        },
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `valid_csrf?` as the gem answers the vectors (exposed for the vector test).
pub(crate) fn gem_valid_csrf(presented: &str, secret_b64: &str) -> bool {
    valid_csrf(presented, secret_b64)
}
