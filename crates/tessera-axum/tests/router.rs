//! The axum integration, driven in memory: the ready-made `/auth` routes merged with a small
//! protected route, under the layers an application adds, over the memory store and a
//! [`ManualClock`]. Requests go through `tower::ServiceExt::oneshot`; no socket is opened and
//! no test sleeps. Where the client IP matters, the test puts `ConnectInfo` into the request
//! extensions, as `into_make_service_with_connect_info` does for a real connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::request::Builder;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::middleware::from_fn;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::guard::{self, MAX_BODY_BYTES, MAX_HEADER_BYTES};
use tessera_axum::routes::{self, AuthState, Throttle};
use tessera_axum::{
    AccountUser, Accounts, AccountsError, AuthConfig, AuthContext, Authenticated, CookiePolicy,
    RelayMode, Transport,
};
use tessera_core::secret::SecretString;
use tessera_core::token::Payload;
use tessera_core::{
    KeyAlgorithm, KeySet, ManualClock, MemoryStore, SessionId, Sessions, Timestamp, UserId,
};
use tower::ServiceExt;

const START: i64 = 1_800_000_000;
const ORIGIN: &str = "https://app.example.test";
const RELAY_SECRET: &str = "relay-secret-0123456789abcdef";
const ACCESS: &str = "__Host-tessera-access";
const REFRESH: &str = "__Secure-tessera-refresh";
const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const CAROL: &str = "carol@example.test";
const PASSWORD: &str = "correct horse battery";
const IP_A: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
const IP_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));

/// Defaults of `SessionsConfig`/`AccessTokenConfig`, restated so that a changed default shows.
const ACCESS_TTL: u64 = 15 * 60;
const LEEWAY: u64 = 5;
const REFRESH_TTL: u64 = 7 * 24 * 3600;
const GRACE: u64 = 10;
const RELAY_TTL: u64 = 30;

/// The throttle of these tests: small, so that limits are reached in a few requests.
const PER_ACCOUNT: u32 = 3;
const PER_IP: u32 = 5;
const WINDOW: u64 = 600;

// ---------------------------------------------------------------------------------------------
// Test double: accounts in a HashMap, plaintext passwords.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct TestAccounts {
    /// normalised email → (id, password)
    users: Mutex<HashMap<String, (UserId, String)>>,
    next_id: AtomicU64,
}

fn account(id: &UserId, email: &str) -> AccountUser {
    AccountUser {
        id: id.clone(),
        payload: Payload::default(),
        public: json!({ "id": id.as_str(), "email": email }),
    }
}

#[async_trait]
impl Accounts for TestAccounts {
    async fn signup(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<AccountUser, AccountsError> {
        let email = self.normalize_email(email);
        if !email.contains('@') {
            return Err(AccountsError::Invalid("email must contain @".into()));
        }
        if password.expose().len() < 8 {
            return Err(AccountsError::Invalid(
                "password must be at least 8 characters".into(),
            ));
        }
        let mut users = self.users.lock().unwrap();
        if users.contains_key(&email) {
            return Err(AccountsError::Conflict);
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let id = UserId::new(format!("user-{n}")).unwrap();
        users.insert(email.clone(), (id.clone(), password.expose().to_owned()));
        Ok(account(&id, &email))
    }

    async fn authenticate(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<Option<AccountUser>, AccountsError> {
        let email = self.normalize_email(email);
        let users = self.users.lock().unwrap();
        Ok(users
            .get(&email)
            .filter(|(_, pw)| pw == password.expose())
            .map(|(id, _)| account(id, &email)))
    }

    async fn user(&self, id: &UserId) -> Result<Option<AccountUser>, AccountsError> {
        let users = self.users.lock().unwrap();
        Ok(users
            .iter()
            .find(|(_, (uid, _))| uid == id)
            .map(|(email, (uid, _))| account(uid, email)))
    }

    async fn change_password(
        &self,
        id: &UserId,
        current: SecretString,
        new: SecretString,
    ) -> Result<bool, AccountsError> {
        let mut users = self.users.lock().unwrap();
        for (uid, pw) in users.values_mut() {
            if uid == id {
                if pw != current.expose() {
                    return Ok(false);
                }
                new.expose().clone_into(pw);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------
// The application under test.
// ---------------------------------------------------------------------------------------------

/// A protected route of the application's own.
async fn things(auth: Authenticated) -> Json<Value> {
    Json(json!({
        "user": auth.user_id().as_str(),
        "session": auth.session.id.as_str(),
        "transport": match auth.transport {
            Transport::Bearer => "bearer",
            Transport::Cookie => "cookie",
        },
    }))
}

fn config() -> AuthConfig {
    AuthConfig {
        relay_mode: RelayMode::Code,
        relay_secret: Some(SecretString::new(RELAY_SECRET)),
        throttle: Throttle {
            per_account: PER_ACCOUNT,
            per_ip: PER_IP,
            window: Duration::from_secs(WINDOW),
        },
    }
}

struct Harness {
    app: Router,
    clock: ManualClock,
}

impl Harness {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(config: AuthConfig) -> Self {
        let clock = ManualClock::new(Timestamp::from_secs(START));
        let keys = Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap());
        let sessions = Sessions::builder(keys, Arc::new(MemoryStore::new()))
            .clock(Arc::new(clock.clone()))
            .build();
        let state = AuthState {
            ctx: AuthContext {
                sessions,
                cookies: Arc::new(CookiePolicy::default()),
            },
            accounts: Arc::new(TestAccounts::default()),
            config: Arc::new(config),
        };
        let own = Router::new()
            .route("/things", get(things).post(things).delete(things))
            .with_state(state.clone());
        // The same layers, in the same order, as an application (tessera-api) adds them.
        let app = routes::router(state)
            .merge(own)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(from_fn(guard::json_only))
            .layer(from_fn(guard::no_store))
            .layer(guard::cors(&[ORIGIN.into()]).unwrap())
            .layer(from_fn(guard::security_headers(false)))
            .layer(from_fn(guard::limit_headers));
        Self { app, clock }
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Signs up; returns the user id.
    async fn signup(&self, email: &str) -> String {
        let r = self
            .send(post("/auth/signup").json(&json!({ "email": email, "password": PASSWORD })))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["user"]["id"].as_str().unwrap().to_owned()
    }

    async fn login_from(&self, email: &str, password: &str, ip: IpAddr) -> Resp {
        self.send(
            post("/auth/login")
                .ip(ip)
                .json(&json!({ "email": email, "password": password })),
        )
        .await
    }

    async fn login(&self, email: &str) -> Browser {
        let r = self.login_from(email, PASSWORD, IP_A).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.browser()
    }

    /// A browser's refresh: both cookies (as a test shortcut) and its CSRF header.
    async fn refresh(&self, b: &Browser) -> Resp {
        self.send(post("/auth/refresh").cookies(b).csrf(&b.csrf).empty())
            .await
    }

    async fn relay(&self, code: &str) -> Resp {
        self.send(
            post("/auth/relay")
                .bearer(RELAY_SECRET)
                .json(&json!({ "code": code })),
        )
        .await
    }

    /// `GET /things` with the bearer token: 200 while the session is live.
    async fn bearer_status(&self, access: &str) -> StatusCode {
        self.send(get_("/things").bearer(access).empty())
            .await
            .status
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and responses.
// ---------------------------------------------------------------------------------------------

fn request(method: Method, uri: &str) -> Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .extension(ConnectInfo(SocketAddr::new(IP_A, 50_000)))
}

fn get_(uri: &str) -> Builder {
    request(Method::GET, uri)
}

fn post(uri: &str) -> Builder {
    request(Method::POST, uri)
}

fn delete(uri: &str) -> Builder {
    request(Method::DELETE, uri)
}

trait Build: Sized {
    fn cookies(self, b: &Browser) -> Self;
    fn cookie(self, header: &str) -> Self;
    fn csrf(self, token: &str) -> Self;
    fn bearer(self, token: &str) -> Self;
    fn ip(self, ip: IpAddr) -> Self;
    fn empty(self) -> Request<Body>;
    fn json(self, v: &Value) -> Request<Body>;
    /// A body with `Content-Length`, as an HTTP/1.1 client sends it.
    fn raw(self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Request<Body>;
    /// A body with no length header, as HTTP/2 allows.
    fn streamed(self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Request<Body>;
}

impl Build for Builder {
    fn cookies(self, b: &Browser) -> Self {
        self.cookie(&format!("{ACCESS}={}; {REFRESH}={}", b.access, b.refresh))
    }

    fn cookie(self, header: &str) -> Self {
        self.header(header::COOKIE, header)
    }

    fn csrf(self, token: &str) -> Self {
        self.header("x-csrf-token", token)
    }

    fn bearer(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    fn ip(self, ip: IpAddr) -> Self {
        self.extension(ConnectInfo(SocketAddr::new(ip, 50_000)))
    }

    fn empty(self) -> Request<Body> {
        self.body(Body::empty()).unwrap()
    }

    fn json(self, v: &Value) -> Request<Body> {
        self.raw(Some("application/json"), serde_json::to_vec(v).unwrap())
    }

    fn raw(self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Request<Body> {
        let body = body.into();
        let b = self.header(header::CONTENT_LENGTH, body.len());
        match content_type {
            Some(ct) => b.header(header::CONTENT_TYPE, ct),
            None => b,
        }
        .body(Body::from(body))
        .unwrap()
    }

    fn streamed(self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Request<Body> {
        match content_type {
            Some(ct) => self.header(header::CONTENT_TYPE, ct),
            None => self,
        }
        .body(Body::from(body.into()))
        .unwrap()
    }
}

/// What a browser holds after a login: its cookies and the CSRF token from the body.
#[derive(Debug, Clone)]
struct Browser {
    access: String,
    refresh: String,
    csrf: String,
    relay_code: String,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One `Set-Cookie` header, split into its parts.
#[derive(Debug)]
struct SetCookie {
    raw: String,
    name: String,
    value: String,
    attrs: BTreeSet<String>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn set_cookies(&self) -> Vec<SetCookie> {
        self.all("set-cookie")
            .into_iter()
            .map(|raw| {
                let mut parts = raw.split("; ");
                let (name, value) = parts.next().unwrap().split_once('=').unwrap();
                SetCookie {
                    name: name.to_owned(),
                    value: value.to_owned(),
                    attrs: parts.map(str::to_owned).collect(),
                    raw: raw.clone(),
                }
            })
            .collect()
    }

    fn cookie(&self, name: &str) -> String {
        let mut found = self.set_cookies().into_iter().filter(|c| c.name == name);
        let c = found
            .next()
            .unwrap_or_else(|| panic!("no Set-Cookie {name}"));
        assert!(found.next().is_none(), "two Set-Cookie {name}");
        c.value
    }

    /// The browser state a successful login or cookie refresh leaves.
    fn browser(&self) -> Browser {
        let body = self.json();
        Browser {
            access: self.cookie(ACCESS),
            refresh: self.cookie(REFRESH),
            csrf: body["csrf"].as_str().unwrap().to_owned(),
            relay_code: body["relay_code"].as_str().unwrap().to_owned(),
        }
    }

    /// Asserts a problem response and returns its body.
    #[track_caller]
    fn problem(&self, status: u16, slug: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
        let v = self.json();
        assert_eq!(v["type"], format!("urn:tessera:problem:{slug}"), "{v}");
        assert_eq!(v["status"], status);
        assert!(v["title"].is_string());
        if status == 401 {
            assert_eq!(self.all("www-authenticate"), ["Bearer"]);
        }
        v
    }

    #[track_caller]
    fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.json()
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// The same token with one character changed.
fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// Authenticated: Bearer first, no fallback, cookie + CSRF.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bearer_is_read_first_and_needs_no_csrf() {
    let h = Harness::new();
    let alice_id = h.signup(ALICE).await;
    let bob_id = h.signup(BOB).await;
    let alice = h.login(ALICE).await;
    let bob = h.login(BOB).await;

    // Bearer wins over a cookie of another session.
    let v = h
        .send(get_("/things").bearer(&alice.access).cookies(&bob).empty())
        .await
        .ok();
    assert_eq!(v["user"], alice_id);
    assert_eq!(v["transport"], "bearer");

    // POST by bearer: no CSRF needed, and a wrong one is not even looked at.
    for req in [
        post("/things").bearer(&alice.access).empty(),
        post("/things")
            .bearer(&alice.access)
            .csrf(&bob.csrf)
            .empty(),
        delete("/things").bearer(&alice.access).empty(),
    ] {
        let v = h.send(req).await.ok();
        assert_eq!(v["user"], alice_id);
        assert_eq!(v["transport"], "bearer");
    }

    // The cookie alone is the cookie transport.
    let v = h.send(get_("/things").cookies(&bob).empty()).await.ok();
    assert_eq!(v["user"], bob_id);
    assert_eq!(v["transport"], "cookie");
}

#[tokio::test]
async fn a_malformed_authorization_header_is_401_even_with_a_valid_cookie() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let alice = h.login(ALICE).await;

    // Control: the cookie alone works.
    h.send(get_("/things").cookies(&alice).empty()).await.ok();

    for bad in [
        "Basic x".to_owned(),
        "Basic YWxpY2U6cGFzcw==".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer a b".to_owned(),
        "Bearer  ".to_owned() + &alice.access,
        "Token ".to_owned() + &alice.access,
        "Bearer \"x\"".to_owned(),
        "Bearer undefined".to_owned(),
        "Bearer ".to_owned() + &tamper(&alice.access),
    ] {
        let r = h
            .send(
                get_("/things")
                    .header(header::AUTHORIZATION, &bad)
                    .cookies(&alice)
                    .empty(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad:?} fell back");
        r.problem(401, "unauthorized");
    }

    // Two Authorization headers, each valid on its own.
    let r = h
        .send(
            get_("/things")
                .bearer(&alice.access)
                .bearer(&alice.access)
                .cookies(&alice)
                .empty(),
        )
        .await;
    r.problem(401, "unauthorized");
}

#[tokio::test]
async fn cookie_transport_on_unsafe_methods_needs_the_sessions_csrf() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;
    let alice = h.login(ALICE).await;
    let bob = h.login(BOB).await;

    // GET by cookie: no CSRF needed.
    assert_eq!(
        h.send(get_("/things").cookies(&alice).empty()).await.ok()["transport"],
        "cookie"
    );

    for method in [Method::POST, Method::DELETE] {
        // Missing.
        h.send(request(method.clone(), "/things").cookies(&alice).empty())
            .await
            .problem(403, "csrf");
        // Another session's (a valid mask, of the wrong secret).
        h.send(
            request(method.clone(), "/things")
                .cookies(&alice)
                .csrf(&bob.csrf)
                .empty(),
        )
        .await
        .problem(403, "csrf");
        // Tampered, garbage, empty.
        for wrong in [tamper(&alice.csrf), "garbage".into(), String::new()] {
            h.send(
                request(method.clone(), "/things")
                    .cookies(&alice)
                    .csrf(&wrong)
                    .empty(),
            )
            .await
            .problem(403, "csrf");
        }
        // The right token, twice.
        h.send(
            request(method.clone(), "/things")
                .cookies(&alice)
                .csrf(&alice.csrf)
                .csrf(&alice.csrf)
                .empty(),
        )
        .await
        .problem(403, "csrf");
        // The right token once.
        let v = h
            .send(
                request(method.clone(), "/things")
                    .cookies(&alice)
                    .csrf(&alice.csrf)
                    .empty(),
            )
            .await
            .ok();
        assert_eq!(v["transport"], "cookie");
    }
}

#[tokio::test]
async fn every_fresh_csrf_mask_verifies() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let login = h.login(ALICE).await;

    let refreshed = h.refresh(&login).await;
    let after_refresh = refreshed.browser();
    let relayed = h.relay(&login.relay_code).await.ok();
    let relayed_csrf = relayed["csrf"].as_str().unwrap().to_owned();

    let masks = [
        login.csrf.clone(),
        after_refresh.csrf.clone(),
        relayed_csrf.clone(),
    ];
    let distinct: BTreeSet<_> = masks.iter().collect();
    assert_eq!(distinct.len(), 3, "masks repeat: {masks:?}");
    for csrf in &masks {
        assert_eq!(csrf.len(), 88);
        h.send(post("/things").cookies(&after_refresh).csrf(csrf).empty())
            .await
            .ok();
    }
    // The relay's access token with the relay's CSRF, by cookie as the web server might not.
    h.send(
        post("/things")
            .cookie(&format!("{ACCESS}={}", relayed["access"].as_str().unwrap()))
            .csrf(&relayed_csrf)
            .empty(),
    )
    .await
    .ok();
}

#[tokio::test]
async fn a_duplicated_access_cookie_is_treated_as_absent() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;
    let alice = h.login(ALICE).await;
    let bob = h.login(BOB).await;

    let one = format!("{ACCESS}={}", alice.access);
    h.send(get_("/things").cookie(&one).empty()).await.ok();

    for cookies in [
        vec![format!("{one}; {one}")],
        vec![format!("{one}; {ACCESS}={}", bob.access)],
        vec![format!("{ACCESS}=; {one}")],
        vec![one.clone(), one.clone()],
        vec![one.clone(), format!("other=1; {ACCESS}={}", bob.access)],
    ] {
        let mut b = get_("/things");
        for c in &cookies {
            b = b.cookie(c);
        }
        let r = h.send(b.empty()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{cookies:?} accepted");
        r.problem(401, "unauthorized");
    }
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let alice = h.login(ALICE).await;

    h.advance(ACCESS_TTL + LEEWAY - 1);
    assert_eq!(h.bearer_status(&alice.access).await, StatusCode::OK);
    h.send(get_("/things").cookies(&alice).empty()).await.ok();

    h.advance(1);
    h.send(get_("/things").bearer(&alice.access).empty())
        .await
        .problem(401, "unauthorized");
    h.send(get_("/things").cookies(&alice).empty())
        .await
        .problem(401, "unauthorized");
}

// ---------------------------------------------------------------------------------------------
// Cookie policy.
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_policy(c: &SetCookie, name: &str, path: &str, max_age: u64) {
    assert_eq!(c.name, name, "{}", c.raw);
    let expected: BTreeSet<String> = [
        "Secure".to_owned(),
        "HttpOnly".to_owned(),
        "SameSite=Strict".to_owned(),
        format!("Path={path}"),
        format!("Max-Age={max_age}"),
    ]
    .into();
    assert_eq!(c.attrs, expected, "{}", c.raw);
    assert!(!c.raw.to_ascii_lowercase().contains("domain"), "{}", c.raw);
    assert!(c.raw.len() < 4096, "{} bytes", c.raw.len());
    if max_age == 0 {
        assert_eq!(c.value, "", "{}", c.raw);
    } else {
        assert!(!c.value.is_empty(), "{}", c.raw);
    }
}

/// Exactly the two session cookies (or their removals), each by the policy.
#[track_caller]
fn assert_session_cookies(r: &Resp, access_age: u64, refresh_age: u64) {
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let access = cookies.iter().find(|c| c.name == ACCESS).unwrap();
    let refresh = cookies.iter().find(|c| c.name == REFRESH).unwrap();
    assert_policy(access, ACCESS, "/", access_age);
    assert_policy(refresh, REFRESH, "/auth", refresh_age);
}

#[tokio::test]
async fn every_set_cookie_follows_the_policy() {
    let h = Harness::new();
    h.signup(ALICE).await;

    // Login.
    let r = h.login_from(ALICE, PASSWORD, IP_A).await;
    assert_session_cookies(&r, ACCESS_TTL, REFRESH_TTL);
    let b = r.browser();
    assert_eq!(
        b.access.split('.').count(),
        3,
        "the access cookie holds a JWT"
    );

    // Refresh a minute later: rotation never extends the absolute lifetime.
    h.advance(60);
    let r = h.refresh(&b).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_session_cookies(&r, ACCESS_TTL, REFRESH_TTL - 60);
    let b = r.browser();

    // Logout clears both, with the same attributes and Max-Age=0.
    let r = h
        .send(post("/auth/logout").cookies(&b).csrf(&b.csrf).empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_session_cookies(&r, 0, 0);

    // So do logout-all, revoking the current session, and a refused refresh.
    let b = h.login(ALICE).await;
    let r = h
        .send(post("/auth/logout-all").cookies(&b).csrf(&b.csrf).empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_session_cookies(&r, 0, 0);

    let b = h.login(ALICE).await;
    let list = h
        .send(get_("/auth/sessions").cookies(&b).empty())
        .await
        .ok();
    let id = list[0]["id"].as_str().unwrap();
    let r = h
        .send(
            delete(&format!("/auth/sessions/{id}"))
                .cookies(&b)
                .csrf(&b.csrf)
                .empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_session_cookies(&r, 0, 0);

    let r = h.refresh(&b).await;
    r.problem(401, "unauthorized");
    assert_session_cookies(&r, 0, 0);

    // Responses that touch no session set no cookie.
    h.signup(BOB).await;
    let bob = h.login(BOB).await;
    for r in [
        h.send(get_("/auth/me").cookies(&bob).empty()).await,
        h.send(get_("/things").cookies(&bob).empty()).await,
        h.relay(&bob.relay_code).await,
    ] {
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.set_cookies().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Problem responses.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_401_has_the_same_body() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let mut cases: Vec<(&str, Resp)> = Vec::new();

    cases.push(("no credentials", h.send(get_("/things").empty()).await));
    cases.push((
        "bad token",
        h.send(get_("/things").bearer("abc.def.ghi").empty()).await,
    ));
    cases.push((
        "malformed authorization",
        h.send(
            get_("/things")
                .header(header::AUTHORIZATION, "Basic x")
                .empty(),
        )
        .await,
    ));

    let revoked = h.login(ALICE).await;
    let r = h
        .send(post("/auth/logout").bearer(&revoked.access).empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    cases.push((
        "revoked session",
        h.send(get_("/things").bearer(&revoked.access).empty())
            .await,
    ));
    cases.push(("revoked session, refresh", h.refresh(&revoked).await));

    let reused = h.login(ALICE).await;
    let next = h.refresh(&reused).await.browser();
    h.advance(GRACE + 1);
    cases.push((
        "reused refresh token",
        h.send(
            post("/auth/refresh")
                .cookie(&format!("{REFRESH}={}", reused.refresh))
                .csrf(&next.csrf)
                .empty(),
        )
        .await,
    ));
    cases.push((
        "session ended by reuse",
        h.send(get_("/things").bearer(&next.access).empty()).await,
    ));
    cases.push((
        "unknown refresh token",
        h.send(
            post("/auth/refresh")
                .cookie(&format!("{REFRESH}=nope"))
                .empty(),
        )
        .await,
    ));
    cases.push((
        "unknown refresh token, header",
        h.send(
            post("/auth/refresh")
                .header("x-refresh-token", "nope")
                .empty(),
        )
        .await,
    ));
    cases.push(("unknown relay code", h.relay("no-such-code").await));
    let live = h.login(ALICE).await;
    cases.push((
        "wrong relay secret",
        h.send(
            post("/auth/relay")
                .bearer("not-the-secret")
                .json(&json!({ "code": live.relay_code })),
        )
        .await,
    ));
    cases.push((
        "wrong password",
        h.login_from(ALICE, "wrong password", IP_B).await,
    ));
    cases.push((
        "unknown email",
        h.login_from("nobody@example.test", PASSWORD, IP_B).await,
    ));

    let first = cases[0].1.body.clone();
    for (label, r) in &cases {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}: {}", r.text());
        let v = r.problem(401, "unauthorized");
        assert_eq!(
            keys(&v),
            BTreeSet::from(["type", "title", "status"]),
            "{label}"
        );
        assert_eq!(r.body, first, "{label}: {}", r.text());
    }
    // The live session was not harmed by the failed relay attempt.
    assert_eq!(h.bearer_status(&live.access).await, StatusCode::OK);
}

#[tokio::test]
async fn success_responses_carry_no_store_and_security_headers() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let alice = h.login(ALICE).await;
    for r in [
        h.login_from(ALICE, PASSWORD, IP_A).await,
        h.send(get_("/auth/me").cookies(&alice).empty()).await,
        h.send(get_("/things").empty()).await,
    ] {
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .contains("default-src 'none'")
        );
        assert_eq!(r.header("strict-transport-security"), None, "tls is off");
    }
}

// ---------------------------------------------------------------------------------------------
// JSON rules.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn json_endpoints_take_only_application_json() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let creds = serde_json::to_vec(&json!({ "email": ALICE, "password": PASSWORD })).unwrap();

    for (uri, ct) in [
        ("/auth/login", Some("text/plain")),
        ("/auth/login", Some("text/plain;charset=UTF-8")),
        ("/auth/login", Some("application/x-www-form-urlencoded")),
        ("/auth/login", Some("multipart/form-data; boundary=xyz")),
        ("/auth/login", Some("application/problem+json")),
        ("/auth/login", None),
        ("/auth/signup", Some("text/plain")),
        ("/auth/signup", None),
    ] {
        let r = h.send(post(uri).raw(ct, creds.clone())).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{uri} {ct:?}");
        r.problem(415, "unsupported-media-type");
    }
    // The login was refused, so no session was opened and no cookie set.
    let r = h
        .send(post("/auth/login").raw(Some("text/plain"), creds.clone()))
        .await;
    assert!(r.set_cookies().is_empty());

    // Parameters and case do not matter.
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        h.send(post("/auth/login").raw(Some(ct), creds.clone()))
            .await
            .ok();
    }
}

#[tokio::test]
async fn bodiless_routes_refuse_bodies_that_are_not_json() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;

    let forms = [
        (Some("text/plain"), b"x".to_vec()),
        (Some("application/x-www-form-urlencoded"), b"a=b".to_vec()),
        (Some("text/plain"), Vec::new()),
        (None, b"x".to_vec()),
    ];
    for uri in ["/auth/refresh", "/auth/logout", "/things"] {
        for (ct, body) in &forms {
            let r = h
                .send(post(uri).cookies(&b).csrf(&b.csrf).raw(*ct, body.clone()))
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{uri} {ct:?} {body:?}"
            );
            r.problem(415, "unsupported-media-type");
        }
        // Chunked, without a content type.
        let r = h
            .send(
                post(uri)
                    .cookies(&b)
                    .csrf(&b.csrf)
                    .header(header::TRANSFER_ENCODING, "chunked")
                    .streamed(None, "x"),
            )
            .await;
        r.problem(415, "unsupported-media-type");
        // No length header at all (HTTP/2 needs none), without a content type.
        let r = h
            .send(post(uri).cookies(&b).csrf(&b.csrf).streamed(None, "x"))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{uri}: {}",
            r.text()
        );
        r.problem(415, "unsupported-media-type");
    }
    // None of that logged the browser out.
    h.send(get_("/things").cookies(&b).empty()).await.ok();
}

#[tokio::test]
async fn bodiless_posts_need_no_content_type() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;

    let r = h.refresh(&b).await;
    let b = r.browser();
    let r = h
        .send(
            post("/auth/refresh")
                .cookies(&b)
                .csrf(&b.csrf)
                .header(header::CONTENT_LENGTH, "0")
                .empty(),
        )
        .await;
    let b = r.browser();
    let r = h
        .send(post("/auth/logout").cookies(&b).csrf(&b.csrf).empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_without_parser_detail() {
    let h = Harness::new();
    for body in [
        &b"{\"email\": \"a@example.test\", \"password\": "[..],
        b"{email: 1}",
        b"not json at all",
        b"{\"email\":\"a@example.test\",\"password\":\"x\"} trailing",
        b"",
        b"\xff\xfe",
    ] {
        let r = h
            .send(post("/auth/login").raw(Some("application/json"), body.to_vec()))
            .await;
        let v = r.problem(400, "malformed-json");
        assert_eq!(keys(&v), BTreeSet::from(["type", "title", "status"]), "{v}");
        let text = r.text().to_ascii_lowercase();
        for leak in ["line", "column", "eof", "expected", "serde"] {
            assert!(!text.contains(leak), "parser detail {leak:?} in {text}");
        }
    }
}

#[tokio::test]
async fn unknown_or_missing_fields_are_400() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;

    for (uri, body) in [
        (
            "/auth/login",
            json!({ "email": ALICE, "password": PASSWORD, "admin": true }),
        ),
        ("/auth/login", json!({ "email": ALICE })),
        ("/auth/login", json!({ "email": ALICE, "password": 7 })),
        (
            "/auth/signup",
            json!({ "email": CAROL, "password": PASSWORD, "role": "admin" }),
        ),
        ("/auth/relay", json!({ "code": b.relay_code, "extra": 1 })),
    ] {
        let r = h.send(post(uri).bearer(RELAY_SECRET).json(&body)).await;
        let v = r.problem(400, "invalid");
        let detail = v["detail"].as_str().unwrap_or_default();
        for leak in ["admin", "role", "extra", "line", "column"] {
            assert!(!detail.contains(leak), "{uri}: detail {detail:?}");
        }
        assert!(r.set_cookies().is_empty());
    }
    // The right password in a body with an extra field opened no session; carol was not created.
    let r = h.login_from(CAROL, PASSWORD, IP_B).await;
    r.problem(401, "unauthorized");
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let h = Harness::new();
    let prefix = br#"{"email":"nobody@example.test","password":""#;
    let suffix = br#""}"#;
    let body = |len: usize| {
        let mut v = prefix.to_vec();
        v.resize(len - suffix.len(), b'a');
        v.extend_from_slice(suffix);
        assert_eq!(v.len(), len);
        v
    };
    assert_eq!(MAX_BODY_BYTES, 64 * 1024);

    // At the limit: read and judged (an unknown account).
    let r = h
        .send(post("/auth/login").raw(Some("application/json"), body(MAX_BODY_BYTES)))
        .await;
    r.problem(401, "unauthorized");

    for uri in ["/auth/login", "/auth/signup"] {
        let r = h
            .send(post(uri).raw(Some("application/json"), body(MAX_BODY_BYTES + 1)))
            .await;
        r.problem(413, "payload-too-large");
        let r = h
            .send(post(uri).streamed(Some("application/json"), body(MAX_BODY_BYTES + 1)))
            .await;
        r.problem(413, "payload-too-large");
    }
}

#[tokio::test]
async fn headers_over_16_kib_are_431() {
    let h = Harness::new();
    assert_eq!(MAX_HEADER_BYTES, 16 * 1024);

    // Under the limit: judged on its merits.
    let r = h
        .send(
            get_("/things")
                .header("x-filler", "a".repeat(MAX_HEADER_BYTES - 100))
                .empty(),
        )
        .await;
    r.problem(401, "unauthorized");

    // One big header.
    let r = h
        .send(
            get_("/things")
                .header("x-filler", "a".repeat(MAX_HEADER_BYTES + 1))
                .empty(),
        )
        .await;
    r.problem(431, "headers-too-large");

    // Many small ones (a cookie-stuffing shape).
    let mut b = post("/auth/login");
    for i in 0..40 {
        b = b.cookie(&format!("c{i}={}", "b".repeat(500)));
    }
    let r = h
        .send(b.json(&json!({ "email": ALICE, "password": PASSWORD })))
        .await;
    r.problem(431, "headers-too-large");
}

// ---------------------------------------------------------------------------------------------
// CORS.
// ---------------------------------------------------------------------------------------------

fn preflight(origin: &str, uri: &str) -> Request<Body> {
    request(Method::OPTIONS, uri)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "content-type,x-csrf-token",
        )
        .empty()
}

#[track_caller]
fn assert_vary_origin(r: &Resp) {
    let vary = r.all("vary").join(",").to_ascii_lowercase();
    assert!(
        vary.split(',').any(|v| v.trim() == "origin"),
        "vary: {vary:?}"
    );
}

#[tokio::test]
async fn cors_allows_exactly_the_configured_origin_with_credentials() {
    let h = Harness::new();
    h.signup(ALICE).await;

    for uri in ["/auth/login", "/auth/refresh", "/things"] {
        let r = h.send(preflight(ORIGIN, uri)).await;
        assert!(r.status.is_success(), "{uri}: {}", r.status);
        assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        let allowed = r
            .all("access-control-allow-headers")
            .join(",")
            .to_ascii_lowercase();
        assert!(allowed.contains("x-csrf-token"), "{allowed}");
        assert!(allowed.contains("content-type"), "{allowed}");
        let methods = r.all("access-control-allow-methods").join(",");
        assert!(methods.contains("POST"), "{methods}");
        assert_vary_origin(&r);
    }

    let r = h
        .send(
            post("/auth/login")
                .header(header::ORIGIN, ORIGIN)
                .json(&json!({ "email": ALICE, "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_vary_origin(&r);

    // Rejections carry CORS too, so the page can read the problem.
    let r = h
        .send(get_("/things").header(header::ORIGIN, ORIGIN).empty())
        .await;
    r.problem(401, "unauthorized");
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_vary_origin(&r);

    for foreign in [
        "https://evil.example.test",
        "null",
        "http://app.example.test",
        "https://app.example.test.evil.test",
        "https://app.example.test:8443",
        "https://APP.example.test",
    ] {
        let r = h.send(preflight(foreign, "/auth/login")).await;
        assert_eq!(
            r.header("access-control-allow-origin"),
            None,
            "preflight from {foreign}"
        );
        let r = h
            .send(
                post("/auth/login")
                    .header(header::ORIGIN, foreign)
                    .json(&json!({ "email": ALICE, "password": PASSWORD })),
            )
            .await;
        assert_eq!(
            r.header("access-control-allow-origin"),
            None,
            "request from {foreign}"
        );
        assert_vary_origin(&r);
    }
}

#[test]
fn cors_refuses_wildcards_null_trailing_slashes_and_paths() {
    for bad in [
        "*",
        "null",
        "NULL",
        "https://*.example.test",
        "https://app.example.test/",
        "https://app.example.test/path",
        "https://app.example.test/path/",
        "app.example.test",
        "https://",
        "ftp://app.example.test",
        "",
    ] {
        assert!(guard::cors(&[bad.into()]).is_err(), "{bad:?} accepted");
        // One bad origin spoils the list.
        assert!(
            guard::cors(&[ORIGIN.into(), bad.into()]).is_err(),
            "{bad:?} accepted in a list"
        );
    }
    for good in [
        ORIGIN,
        "http://localhost:3000",
        "https://app.example.test:8443",
    ] {
        assert!(guard::cors(&[good.into()]).is_ok(), "{good:?} refused");
    }
}

// ---------------------------------------------------------------------------------------------
// Routes.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn signup_and_login() {
    let h = Harness::new();

    let r = h
        .send(post("/auth/signup").json(&json!({ "email": ALICE, "password": PASSWORD })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v = r.json();
    assert_eq!(keys(&v), BTreeSet::from(["user"]));
    assert_eq!(v["user"]["email"], ALICE);
    assert!(r.set_cookies().is_empty(), "signup does not log in");

    // Same account, other spelling.
    h.send(
        post("/auth/signup")
            .json(&json!({ "email": " Alice@Example.TEST ", "password": PASSWORD })),
    )
    .await
    .problem(409, "conflict");
    // The accounts' validation message reaches the user.
    let v = h
        .send(post("/auth/signup").json(&json!({ "email": BOB, "password": "short" })))
        .await
        .problem(400, "invalid");
    assert_eq!(v["detail"], "password must be at least 8 characters");

    let r = h.login_from(ALICE, PASSWORD, IP_A).await;
    let v = r.ok();
    assert_eq!(
        keys(&v),
        BTreeSet::from(["csrf", "access_expires_at", "relay_code", "user"]),
        "code relay mode: no access token in the body"
    );
    assert_eq!(
        v["access_expires_at"],
        Timestamp::from_secs(START + ACCESS_TTL as i64).to_rfc3339()
    );
    assert_eq!(v["user"]["email"], ALICE);
    assert!(
        !r.text().contains(&r.cookie(ACCESS)),
        "access token in the body"
    );
    assert!(
        !r.text().contains(&r.cookie(REFRESH)),
        "refresh token in the body"
    );

    h.login_from(ALICE, "wrong password", IP_A)
        .await
        .problem(401, "unauthorized");
    h.login_from(BOB, PASSWORD, IP_A)
        .await
        .problem(401, "unauthorized");
}

#[tokio::test]
async fn refresh_by_cookie_checks_csrf_before_rotating() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;
    let b = h.login(ALICE).await;
    let bob = h.login(BOB).await;

    // Without, with another session's, or with a tampered CSRF: 403, nothing rotated.
    for csrf in [None, Some(bob.csrf.clone()), Some(tamper(&b.csrf))] {
        let mut req = post("/auth/refresh").cookies(&b);
        if let Some(c) = &csrf {
            req = req.csrf(c);
        }
        let r = h.send(req.empty()).await;
        r.problem(403, "csrf");
        assert!(r.set_cookies().is_empty());
    }
    // Past the grace window the original token is still the current one: it was not rotated.
    h.advance(GRACE + 1);
    let r = h.refresh(&b).await;
    let v = r.ok();
    assert_eq!(
        keys(&v),
        BTreeSet::from(["csrf", "access_expires_at", "relay_code"])
    );
    let next = r.browser();
    assert_ne!(next.refresh, b.refresh);
    assert_ne!(next.access, b.access);
    assert_ne!(next.relay_code, b.relay_code);

    // The new access token works, by cookie and by bearer; the new relay code redeems.
    h.send(post("/things").cookies(&next).csrf(&next.csrf).empty())
        .await
        .ok();
    assert_eq!(h.bearer_status(&next.access).await, StatusCode::OK);
    h.relay(&next.relay_code).await.ok();

    // The old token, past the grace window, is reuse: the whole session ends.
    h.advance(GRACE + 1);
    let r = h.refresh(&b).await;
    r.problem(401, "unauthorized");
    assert_eq!(
        h.bearer_status(&next.access).await,
        StatusCode::UNAUTHORIZED
    );
    h.refresh(&next).await.problem(401, "unauthorized");
    // Bob's session is untouched.
    assert_eq!(h.bearer_status(&bob.access).await, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_refreshes_in_the_grace_window_get_the_same_successor() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;

    let first = h.refresh(&b).await.browser();
    h.advance(GRACE - 1);
    let second = h.refresh(&b).await.browser();
    assert_eq!(first.refresh, second.refresh);
    // Both tabs stay signed in.
    assert_eq!(h.bearer_status(&first.access).await, StatusCode::OK);
    assert_eq!(h.bearer_status(&second.access).await, StatusCode::OK);
    h.refresh(&second).await.ok();
}

#[tokio::test]
async fn refresh_by_header_for_non_browser_clients() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;

    let r = h
        .send(
            post("/auth/refresh")
                .header("x-refresh-token", &b.refresh)
                .empty(),
        )
        .await;
    let v = r.ok();
    assert_eq!(
        keys(&v),
        BTreeSet::from(["refresh", "access", "access_expires_at", "csrf"])
    );
    assert!(r.set_cookies().is_empty(), "no cookies for header clients");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let access = v["access"].as_str().unwrap();
    let refresh = v["refresh"].as_str().unwrap();
    assert_ne!(refresh, b.refresh);
    assert_eq!(h.bearer_status(access).await, StatusCode::OK);

    // The successor works in turn.
    let v = h
        .send(
            post("/auth/refresh")
                .header("x-refresh-token", refresh)
                .empty(),
        )
        .await
        .ok();
    let latest = v["access"].as_str().unwrap().to_owned();

    // The first token is now two rotations old: reuse ends the session.
    h.send(
        post("/auth/refresh")
            .header("x-refresh-token", &b.refresh)
            .empty(),
    )
    .await
    .problem(401, "unauthorized");
    assert_eq!(h.bearer_status(&latest).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn relay_redeems_a_code_once_for_the_relay_secret_only() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;

    // Wrong, missing or malformed relay secret: 401, and the code survives.
    for auth in [
        Some("Bearer not-the-secret".to_owned()),
        Some(format!("Bearer {}", b.access)),
        Some(format!("Basic {RELAY_SECRET}")),
        Some(format!("Bearer {RELAY_SECRET} x")),
        None,
    ] {
        let mut req = post("/auth/relay").cookies(&b).csrf(&b.csrf);
        if let Some(a) = &auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        h.send(req.json(&json!({ "code": b.relay_code })))
            .await
            .problem(401, "unauthorized");
    }

    let r = h.relay(&b.relay_code).await;
    let v = r.ok();
    assert_eq!(
        keys(&v),
        BTreeSet::from(["access", "access_expires_at", "csrf"])
    );
    assert!(r.set_cookies().is_empty());
    let access = v["access"].as_str().unwrap();
    let v2 = h.send(get_("/things").bearer(access).empty()).await.ok();
    let v1 = h.send(get_("/things").cookies(&b).empty()).await.ok();
    assert_eq!(
        v1["session"], v2["session"],
        "the code is bound to its session"
    );
    // The relayed CSRF is the session's.
    h.send(
        post("/things")
            .cookies(&b)
            .csrf(v["csrf"].as_str().unwrap())
            .empty(),
    )
    .await
    .ok();

    // Single use.
    h.relay(&b.relay_code).await.problem(401, "unauthorized");

    // Short-lived: 30 s.
    let c = h.login(ALICE).await;
    let d = h.login(ALICE).await;
    h.advance(RELAY_TTL - 1);
    h.relay(&c.relay_code).await.ok();
    h.advance(1);
    h.relay(&d.relay_code).await.problem(401, "unauthorized");

    // Bound to a live session: after logout the code is worthless.
    let e = h.login(ALICE).await;
    let r = h.send(post("/auth/logout").bearer(&e.access).empty()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    h.relay(&e.relay_code).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn relay_is_off_without_a_secret() {
    let h = Harness::with(AuthConfig {
        relay_secret: None,
        ..config()
    });
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;
    for bearer in [RELAY_SECRET, "", "x"] {
        let mut req = post("/auth/relay");
        if !bearer.is_empty() {
            req = req.bearer(bearer);
        }
        h.send(req.json(&json!({ "code": b.relay_code })))
            .await
            .problem(404, "not-found");
    }
}

#[tokio::test]
async fn logout_by_access_token() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let b = h.login(ALICE).await;
    let other = h.login(ALICE).await;

    // By cookie: CSRF required, and without it the session lives on.
    h.send(post("/auth/logout").cookies(&b).empty())
        .await
        .problem(403, "csrf");
    h.send(post("/auth/logout").cookies(&b).csrf(&other.csrf).empty())
        .await
        .problem(403, "csrf");
    assert_eq!(h.bearer_status(&b.access).await, StatusCode::OK);

    let r = h
        .send(post("/auth/logout").cookies(&b).csrf(&b.csrf).empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Old access token (cookie or bearer) and refresh token: refused at once.
    h.send(get_("/things").cookies(&b).empty())
        .await
        .problem(401, "unauthorized");
    assert_eq!(h.bearer_status(&b.access).await, StatusCode::UNAUTHORIZED);
    h.refresh(&b).await.problem(401, "unauthorized");
    h.send(post("/auth/logout").cookies(&b).csrf(&b.csrf).empty())
        .await
        .problem(401, "unauthorized");

    // The other session of the same user is untouched; bearer logout needs no CSRF.
    assert_eq!(h.bearer_status(&other.access).await, StatusCode::OK);
    let r = h
        .send(post("/auth/logout").bearer(&other.access).empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.bearer_status(&other.access).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_by_refresh_cookie_once_the_access_token_expired() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;
    let a = h.login(ALICE).await;
    let a2 = h.login(ALICE).await;
    let bob = h.login(BOB).await;
    h.advance(ACCESS_TTL + LEEWAY + 1);

    // Both cookies sent, the access one expired; then the refresh cookie alone, as a browser
    // sends it once the access cookie's Max-Age has passed.
    for (s, cookie) in [
        (
            &a,
            format!("{ACCESS}={}; {REFRESH}={}", a.access, a.refresh),
        ),
        (&a2, format!("{REFRESH}={}", a2.refresh)),
    ] {
        h.send(post("/auth/logout").cookie(&cookie).empty())
            .await
            .problem(403, "csrf");
        h.send(post("/auth/logout").cookie(&cookie).csrf(&bob.csrf).empty())
            .await
            .problem(403, "csrf");
        let r = h
            .send(post("/auth/logout").cookie(&cookie).csrf(&s.csrf).empty())
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        assert_session_cookies(&r, 0, 0);
        // The session is gone: no refresh, no second logout.
        h.refresh(s).await.problem(401, "unauthorized");
        h.send(post("/auth/logout").cookie(&cookie).csrf(&s.csrf).empty())
            .await
            .problem(401, "unauthorized");
    }

    // No cookie at all, or an unknown refresh token.
    h.send(post("/auth/logout").empty())
        .await
        .problem(401, "unauthorized");
    h.send(
        post("/auth/logout")
            .cookie(&format!("{REFRESH}=garbage"))
            .csrf(&bob.csrf)
            .empty(),
    )
    .await
    .problem(401, "unauthorized");
    // Bob's session lives (his access expired, but his refresh works).
    h.refresh(&bob).await.ok();
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_only() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;
    let a1 = h.login(ALICE).await;
    let a2 = h.login(ALICE).await;
    let bob = h.login(BOB).await;

    h.send(post("/auth/logout-all").cookies(&a1).empty())
        .await
        .problem(403, "csrf");
    h.send(post("/auth/logout-all").empty())
        .await
        .problem(401, "unauthorized");
    assert_eq!(h.bearer_status(&a2.access).await, StatusCode::OK);

    let r = h
        .send(post("/auth/logout-all").cookies(&a1).csrf(&a1.csrf).empty())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for a in [&a1, &a2] {
        assert_eq!(h.bearer_status(&a.access).await, StatusCode::UNAUTHORIZED);
        h.refresh(a).await.problem(401, "unauthorized");
    }
    assert_eq!(h.bearer_status(&bob.access).await, StatusCode::OK);
}

#[tokio::test]
async fn me_shows_the_user_and_the_current_session() {
    let h = Harness::new();
    let id = h.signup(ALICE).await;
    let r = h
        .send(
            post("/auth/login")
                .ip(IP_B)
                .header(header::USER_AGENT, "TestBrowser/1.0")
                .json(&json!({ "email": ALICE, "password": PASSWORD })),
        )
        .await;
    let b = r.browser();

    h.send(get_("/auth/me").empty())
        .await
        .problem(401, "unauthorized");
    h.advance(5);
    let v = h.send(get_("/auth/me").cookies(&b).empty()).await.ok();
    assert_eq!(v["user"], json!({ "id": id, "email": ALICE }));
    let s = &v["session"];
    assert_eq!(s["current"], true);
    assert_eq!(s["user_agent"], "TestBrowser/1.0");
    assert_eq!(s["ip"], IP_B.to_string());
    assert_eq!(s["created_at"], Timestamp::from_secs(START).to_rfc3339());
    assert_eq!(
        s["expires_at"],
        Timestamp::from_secs(START + REFRESH_TTL as i64).to_rfc3339()
    );
    let same = h
        .send(get_("/auth/me").bearer(&b.access).empty())
        .await
        .ok();
    assert_eq!(same["session"]["id"], s["id"]);
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_by_their_owner_only() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;
    let login_as = |ua: &'static str, email: &'static str| {
        post("/auth/login")
            .header(header::USER_AGENT, ua)
            .json(&json!({ "email": email, "password": PASSWORD }))
    };
    let a1 = h.send(login_as("ua-1", ALICE)).await.browser();
    h.advance(1);
    let a2 = h.send(login_as("ua-2", ALICE)).await.browser();
    let bob = h.send(login_as("ua-bob", BOB)).await.browser();

    let list = h
        .send(get_("/auth/sessions").cookies(&a1).empty())
        .await
        .ok();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    // Newest first.
    assert_eq!(list[0]["user_agent"], "ua-2");
    assert_eq!(list[1]["user_agent"], "ua-1");
    assert_eq!(list[0]["current"], false);
    assert_eq!(list[1]["current"], true);
    for s in list {
        assert_eq!(s["ip"], IP_A.to_string());
        assert_eq!(
            keys(s),
            BTreeSet::from([
                "id",
                "created_at",
                "last_used_at",
                "expires_at",
                "user_agent",
                "ip",
                "current"
            ])
        );
    }
    let a1_id = list[1]["id"].as_str().unwrap().to_owned();
    let a2_id = list[0]["id"].as_str().unwrap().to_owned();
    let bob_list = h
        .send(get_("/auth/sessions").bearer(&bob.access).empty())
        .await
        .ok();
    assert_eq!(bob_list.as_array().unwrap().len(), 1);
    let bob_id = bob_list[0]["id"].as_str().unwrap().to_owned();

    // Bob cannot revoke (or probe) Alice's sessions: 404, and nothing happens.
    h.send(
        delete(&format!("/auth/sessions/{a1_id}"))
            .bearer(&bob.access)
            .empty(),
    )
    .await
    .problem(404, "not-found");
    assert_eq!(h.bearer_status(&a1.access).await, StatusCode::OK);
    // Unknown and malformed ids look the same.
    let unknown = SessionId::generate().unwrap();
    for id in [unknown.as_str(), "nope", "..%2F"] {
        h.send(
            delete(&format!("/auth/sessions/{id}"))
                .bearer(&a1.access)
                .empty(),
        )
        .await
        .problem(404, "not-found");
    }
    // By cookie, the DELETE needs CSRF.
    h.send(
        delete(&format!("/auth/sessions/{a2_id}"))
            .cookies(&a1)
            .empty(),
    )
    .await
    .problem(403, "csrf");
    assert_eq!(h.bearer_status(&a2.access).await, StatusCode::OK);

    // Alice revokes her other device: it ends, her current one lives, no cookie is cleared.
    let r = h
        .send(
            delete(&format!("/auth/sessions/{a2_id}"))
                .cookies(&a1)
                .csrf(&a1.csrf)
                .empty(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.set_cookies().is_empty());
    assert_eq!(h.bearer_status(&a2.access).await, StatusCode::UNAUTHORIZED);
    h.refresh(&a2).await.problem(401, "unauthorized");
    assert_eq!(h.bearer_status(&a1.access).await, StatusCode::OK);
    // Revoking it again: 404.
    h.send(
        delete(&format!("/auth/sessions/{a2_id}"))
            .cookies(&a1)
            .csrf(&a1.csrf)
            .empty(),
    )
    .await
    .problem(404, "not-found");
    // Bob's session was never at risk.
    assert_eq!(h.bearer_status(&bob.access).await, StatusCode::OK);
    assert_ne!(bob_id, a1_id);
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;
    let a1 = h.login(ALICE).await;
    let a2 = h.login(ALICE).await;
    let bob = h.login(BOB).await;
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let new_password = "a brand new password";

    // CSRF first, then the current password.
    h.send(
        post("/auth/password")
            .cookies(&a1)
            .json(&change(PASSWORD, new_password)),
    )
    .await
    .problem(403, "csrf");
    h.send(
        post("/auth/password")
            .cookies(&a1)
            .csrf(&a1.csrf)
            .json(&change("wrong password", new_password)),
    )
    .await
    .problem(401, "unauthorized");
    h.send(
        post("/auth/password")
            .cookies(&a1)
            .csrf(&a1.csrf)
            .json(&json!({ "current_password": PASSWORD, "new_password": new_password, "x": 1 })),
    )
    .await
    .problem(400, "invalid");
    assert_eq!(h.bearer_status(&a2.access).await, StatusCode::OK);

    let r = h
        .send(
            post("/auth/password")
                .cookies(&a1)
                .csrf(&a1.csrf)
                .json(&change(PASSWORD, new_password)),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(r.set_cookies().is_empty());

    assert_eq!(h.bearer_status(&a1.access).await, StatusCode::OK);
    h.refresh(&a1).await.ok();
    assert_eq!(h.bearer_status(&a2.access).await, StatusCode::UNAUTHORIZED);
    h.refresh(&a2).await.problem(401, "unauthorized");
    assert_eq!(h.bearer_status(&bob.access).await, StatusCode::OK);

    h.login_from(ALICE, PASSWORD, IP_B)
        .await
        .problem(401, "unauthorized");
    h.login_from(ALICE, new_password, IP_B).await.ok();
}

#[tokio::test]
async fn login_is_throttled_per_account() {
    let h = Harness::new();
    h.signup(ALICE).await;
    h.signup(BOB).await;

    for _ in 0..PER_ACCOUNT {
        h.login_from(ALICE, "wrong password", IP_A)
            .await
            .problem(401, "unauthorized");
    }
    // Locked: the right password too, from any IP, under any spelling of the email.
    for (email, ip) in [(ALICE, IP_A), (ALICE, IP_B), (" ALICE@example.test", IP_B)] {
        let r = h.login_from(email, PASSWORD, ip).await;
        r.problem(429, "too-many-requests");
        assert_eq!(r.header("retry-after"), Some(WINDOW.to_string().as_str()));
        assert!(r.set_cookies().is_empty());
    }
    // Another account is not locked.
    h.login(BOB).await;

    h.advance(100);
    let r = h.login_from(ALICE, PASSWORD, IP_A).await;
    r.problem(429, "too-many-requests");
    assert_eq!(
        r.header("retry-after"),
        Some((WINDOW - 100).to_string().as_str())
    );

    // The window ends: the right password works again.
    h.advance(WINDOW - 100);
    h.login(ALICE).await;
}

#[tokio::test]
async fn successful_logins_do_not_count_towards_the_limit() {
    let h = Harness::new();
    h.signup(ALICE).await;

    for _ in 0..PER_ACCOUNT - 1 {
        h.login_from(ALICE, "wrong password", IP_A)
            .await
            .problem(401, "unauthorized");
    }
    for _ in 0..10 {
        h.login(ALICE).await;
    }
    // One more failure reaches the limit.
    h.login_from(ALICE, "wrong password", IP_A)
        .await
        .problem(401, "unauthorized");
    h.login_from(ALICE, PASSWORD, IP_A)
        .await
        .problem(429, "too-many-requests");
}

#[tokio::test]
async fn login_is_throttled_per_ip() {
    let h = Harness::new();
    h.signup(CAROL).await;

    // Spread over many accounts, so that no account limit is reached.
    for i in 0..PER_IP {
        h.login_from(&format!("user{i}@example.test"), "guess", IP_A)
            .await
            .problem(401, "unauthorized");
    }
    let r = h.login_from(CAROL, PASSWORD, IP_A).await;
    r.problem(429, "too-many-requests");
    assert_eq!(r.header("retry-after"), Some(WINDOW.to_string().as_str()));
    // Another IP gets in.
    h.login_from(CAROL, PASSWORD, IP_B).await.ok();

    h.advance(WINDOW);
    h.login_from(CAROL, PASSWORD, IP_A).await.ok();
}

#[tokio::test]
async fn token_relay_mode_adds_the_access_token_to_login_and_refresh() {
    let h = Harness::with(AuthConfig {
        relay_mode: RelayMode::Token,
        ..config()
    });
    h.signup(ALICE).await;

    let r = h.login_from(ALICE, PASSWORD, IP_A).await;
    let v = r.ok();
    assert_eq!(
        keys(&v),
        BTreeSet::from(["csrf", "access_expires_at", "relay_code", "user", "access"])
    );
    let b = r.browser();
    assert_eq!(v["access"], b.access.as_str());
    assert_eq!(h.bearer_status(&b.access).await, StatusCode::OK);

    let r = h.refresh(&b).await;
    let v = r.ok();
    assert_eq!(
        keys(&v),
        BTreeSet::from(["csrf", "access_expires_at", "relay_code", "access"])
    );
    let next = r.browser();
    assert_eq!(v["access"], next.access.as_str());
    assert_ne!(next.access, b.access);
    assert_eq!(h.bearer_status(&next.access).await, StatusCode::OK);
}

#[tokio::test]
async fn json_arrays_are_not_objects() {
    let h = Harness::new();
    h.signup(ALICE).await;
    let body = serde_json::to_vec(&serde_json::json!([ALICE, PASSWORD])).unwrap();
    let r = h
        .send(post("/auth/login").raw(Some("application/json"), body))
        .await;
    r.problem(400, "invalid");
}

#[tokio::test]
async fn wrong_methods_get_a_405_problem() {
    let h = Harness::new();
    let r = h.send(get_("/auth/login").empty()).await;
    r.problem(405, "method-not-allowed");
}

#[tokio::test]
async fn the_relay_authenticates_before_reading_the_body() {
    let h = Harness::new();
    for body in [&b"not json"[..], b"[1,2]", b"{\"code\":\"x\"}"] {
        let r = h
            .send(
                post("/auth/relay")
                    .bearer("not-the-relay-secret")
                    .raw(Some("application/json"), body.to_vec()),
            )
            .await;
        r.problem(401, "unauthorized");
    }
}
