//! Ready-made auth routes that any axum application can mount.
//!
//! ```text
//! POST   /auth/signup        {email, password}              → 201 {user}
//! POST   /auth/login         {email, password}              → 200 {csrf, access_expires_at, relay_code, user}
//! POST   /auth/refresh       refresh cookie + X-CSRF-Token  → 200 {csrf, access_expires_at, relay_code}
//!                            X-Refresh-Token                → 200 {refresh, access, access_expires_at, csrf}
//! POST   /auth/relay         Bearer <relay secret>, {code}  → 200 {access, access_expires_at, csrf}
//! POST   /auth/logout                                       → 204
//! POST   /auth/logout-all                                   → 204
//! POST   /auth/password      {current_password, new_password} → 204
//! GET    /auth/me                                           → {user, session}
//! GET    /auth/sessions                                     → [{id, created_at, last_used_at, user_agent, ip, current}]
//! DELETE /auth/sessions/{id}                                → 204
//! ```
//!
//! Accounts (who may log in) come from the application through the [`Accounts`] trait, so
//! this crate knows no database.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_core::refresh::TokenHash;
use tessera_core::secret::SecretString;
use tessera_core::session::LoginTokens;
use tessera_core::store::{ClientInfo, SessionRecord};
use tessera_core::token::Payload;
use tessera_core::{SessionId, Timestamp, UserId};

use crate::REFRESH_HEADER;
use crate::extract::{AuthContext, Authenticated, JsonBody, bearer_token, csrf_matches};
use crate::problem::AuthError;

/// A user as the auth routes need it.
#[derive(Debug, Clone)]
pub struct AccountUser {
    /// The id that becomes the token's `sub`.
    pub id: UserId,
    /// The application payload for access tokens.
    pub payload: Payload,
    /// The user as shown to the user (`{"id", "email"}` for example).
    pub public: serde_json::Value,
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountsError {
    /// Invalid input; the message is shown to the user.
    #[error("{0}")]
    Invalid(String),
    /// The account already exists.
    #[error("account already exists")]
    Conflict,
    /// The backing database is unavailable.
    #[error("accounts unavailable: {0}")]
    Unavailable(String),
}

impl From<AccountsError> for AuthError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(msg) => AuthError::Invalid(msg),
            AccountsError::Conflict => AuthError::Conflict,
            AccountsError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "accounts unavailable");
                AuthError::Unavailable
            }
        }
    }
}

/// The application's accounts: the only thing the auth routes need to know about users.
#[async_trait]
pub trait Accounts: Send + Sync + std::fmt::Debug + 'static {
    /// The canonical form of an email, for throttling keys (trimmed and lower-cased by default).
    fn normalize_email(&self, email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// Creates an account.
    async fn signup(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<AccountUser, AccountsError>;

    /// Checks credentials. `Ok(None)` for an unknown email **or** a wrong password, which
    /// must take the same time (verify against a dummy hash for unknown emails).
    async fn authenticate(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<Option<AccountUser>, AccountsError>;

    /// The user with this id.
    async fn user(&self, id: &UserId) -> Result<Option<AccountUser>, AccountsError>;

    /// Changes a password after checking the current one; `Ok(false)` if it was wrong.
    async fn change_password(
        &self,
        id: &UserId,
        current: SecretString,
        new: SecretString,
    ) -> Result<bool, AccountsError>;
}

/// How the web server obtains the access token after a login or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayMode {
    /// A single-use, 30-second relay code; the access token never reaches JavaScript.
    #[default]
    Code,
    /// The login and refresh bodies also carry `access` (for relays that cannot use codes).
    Token,
}

/// Login throttling: failed attempts per account and per client IP in a fixed window.
#[derive(Debug, Clone)]
pub struct Throttle {
    /// Failed attempts allowed per normalised email in one window.
    pub per_account: u32,
    /// Failed attempts allowed per client IP in one window.
    pub per_ip: u32,
    /// The window.
    pub window: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            per_account: 10,
            per_ip: 100,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Settings of the auth routes.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// How the web server obtains the access token.
    pub relay_mode: RelayMode,
    /// The secret the web server presents to `POST /auth/relay`; `None` disables the relay.
    pub relay_secret: Option<SecretString>,
    /// Login throttling.
    pub throttle: Throttle,
}

/// State of the auth routes.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// Sessions and cookie policy.
    pub ctx: AuthContext,
    /// The application's accounts.
    pub accounts: Arc<dyn Accounts>,
    /// Settings.
    pub config: Arc<AuthConfig>,
}

impl axum::extract::FromRef<AuthState> for AuthContext {
    fn from_ref(s: &AuthState) -> Self {
        s.ctx.clone()
    }
}

/// The auth routes, with their state applied. Merge them into an application router.
pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/relay", post(relay))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-all", post(logout_all))
        .route("/auth/password", post(change_password))
        .route("/auth/me", get(me))
        .route("/auth/sessions", get(list_sessions))
        .route("/auth/sessions/{id}", delete(revoke_session))
        .method_not_allowed_fallback(|| async { AuthError::MethodNotAllowed })
        .with_state(state)
}

/// The client's IP address as the connection reports it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

fn client_info(headers: &HeaderMap, ip: ClientIp) -> ClientInfo {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    ClientInfo::new(ua, ip.0.map(|ip| ip.to_string()))
}

fn ttl_until(now: Timestamp, at: Timestamp) -> Duration {
    at.since(now)
}

/// Adds the access and refresh cookies for freshly issued tokens.
fn set_session_cookies(state: &AuthState, headers: &mut HeaderMap, tokens: &LoginTokens) {
    let now = state.ctx.sessions.now();
    let cookies = &state.ctx.cookies;
    headers.append(
        header::SET_COOKIE,
        cookies.access(
            tokens.access.token.expose(),
            ttl_until(now, tokens.access.expires_at),
        ),
    );
    headers.append(
        header::SET_COOKIE,
        cookies.refresh(
            tokens.refresh.expose(),
            ttl_until(now, tokens.refresh_expires_at),
        ),
    );
}

fn clear_session_cookies(state: &AuthState, headers: &mut HeaderMap) {
    for c in state.ctx.cookies.clear() {
        headers.append(header::SET_COOKIE, c);
    }
}

/// `{email, password}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: SecretDe,
}

/// A password as it arrives in JSON; never printed.
#[derive(Deserialize)]
#[serde(transparent)]
struct SecretDe(String);

impl std::fmt::Debug for SecretDe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl SecretDe {
    fn into_secret(self) -> SecretString {
        SecretString::new(self.0)
    }
}

async fn signup(
    State(state): State<AuthState>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, AuthError> {
    let user = state
        .accounts
        .signup(&body.email, body.password.into_secret())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user.public }))).into_response())
}

fn throttle_keys(state: &AuthState, email: &str, ip: ClientIp) -> (String, Option<String>) {
    let normalized = state.accounts.normalize_email(email);
    let hex = TokenHash::of(normalized.as_bytes()).to_hex();
    // The email is hashed so that the throttle store holds no address in clear.
    (
        format!("login:acct:{hex}"),
        ip.0.map(|ip| format!("login:ip:{ip}")),
    )
}

async fn login(
    State(state): State<AuthState>,
    ip: ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, AuthError> {
    let sessions = &state.ctx.sessions;
    let store = sessions.store();
    let throttle = &state.config.throttle;
    let now = sessions.now();
    let (acct_key, ip_key) = throttle_keys(&state, &body.email, ip);

    // While a limit holds, even the right password gets 429: the lock must not be an oracle.
    let mut retry_after = None;
    if let Some(h) = store.hits(&acct_key, now).await?
        && h.count >= throttle.per_account
    {
        retry_after = Some(h.resets_at.since(now));
    }
    if let Some(key) = &ip_key
        && let Some(h) = store.hits(key, now).await?
        && h.count >= throttle.per_ip
    {
        retry_after = Some(retry_after.unwrap_or_default().max(h.resets_at.since(now)));
    }
    if let Some(retry_after) = retry_after {
        sessions.record_login_failure(None, "throttled");
        return Err(AuthError::TooManyRequests { retry_after });
    }

    let Some(user) = state
        .accounts
        .authenticate(&body.email, body.password.into_secret())
        .await?
    else {
        store.hit(&acct_key, throttle.window, now).await?;
        if let Some(key) = &ip_key {
            store.hit(key, throttle.window, now).await?;
        }
        sessions.record_login_failure(None, "bad credentials");
        return Err(AuthError::Unauthorized);
    };

    let tokens = sessions
        .login(&user.id, user.payload.clone(), client_info(&headers, ip))
        .await?;
    let relay_code = sessions.create_relay_code(&tokens.session_id).await?;
    let mut body = json!({
        "csrf": tokens.csrf.as_str(),
        "access_expires_at": tokens.access.expires_at.to_rfc3339(),
        "relay_code": relay_code.expose(),
        "user": user.public,
    });
    if state.config.relay_mode == RelayMode::Token {
        body["access"] = tokens.access.token.expose().into();
    }
    let mut res = Json(body).into_response();
    set_session_cookies(&state, res.headers_mut(), &tokens);
    Ok(res)
}

async fn refresh(
    State(state): State<AuthState>,
    headers: HeaderMap,
) -> Result<Response, AuthError> {
    let sessions = &state.ctx.sessions;

    // Non-browser clients: the refresh token in a header, no cookies, no CSRF.
    if let Some(value) = headers.get(REFRESH_HEADER) {
        let token = value.to_str().map_err(|_| AuthError::Unauthorized)?;
        let tokens = sessions.refresh(token).await?;
        return Ok(Json(json!({
            "refresh": tokens.refresh.expose(),
            "access": tokens.access.token.expose(),
            "access_expires_at": tokens.access.expires_at.to_rfc3339(),
            "csrf": tokens.csrf.as_str(),
        }))
        .into_response());
    }

    // Browsers: the refresh cookie, and the CSRF header checked before anything rotates.
    // A token that is neither current nor in its grace window goes straight to `refresh`,
    // which cannot succeed for it: it revokes on reuse and answers 401 otherwise.
    let token = state
        .ctx
        .cookies
        .read_refresh(&headers)
        .ok_or(AuthError::Unauthorized)?;
    if let Ok(session) = sessions.session_for_refresh(token).await
        && !csrf_matches(&headers, &session)
    {
        return Err(AuthError::Csrf);
    }
    match sessions.refresh(token).await {
        Ok(tokens) => {
            let relay_code = sessions.create_relay_code(&tokens.session_id).await?;
            let mut body = json!({
                "csrf": tokens.csrf.as_str(),
                "access_expires_at": tokens.access.expires_at.to_rfc3339(),
                "relay_code": relay_code.expose(),
            });
            if state.config.relay_mode == RelayMode::Token {
                body["access"] = tokens.access.token.expose().into();
            }
            let mut res = Json(body).into_response();
            set_session_cookies(&state, res.headers_mut(), &tokens);
            Ok(res)
        }
        Err(e) => {
            let mut res = AuthError::from(e).into_response();
            clear_session_cookies(&state, res.headers_mut());
            Ok(res)
        }
    }
}

/// `{code}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayRequest {
    code: String,
}

async fn relay(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Result<JsonBody<RelayRequest>, AuthError>,
) -> Result<Response, AuthError> {
    // Authenticate the caller before reading anything it sent.
    let expected = state
        .config
        .relay_secret
        .as_ref()
        .ok_or(AuthError::NotFound)?;
    let presented = bearer_token(&headers)?.ok_or(AuthError::Unauthorized)?;
    if !constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
        return Err(AuthError::Unauthorized);
    }
    let JsonBody(body) = body?;
    let grant = state.ctx.sessions.redeem_relay_code(&body.code).await?;
    Ok(Json(json!({
        "access": grant.access.token.expose(),
        "access_expires_at": grant.access.expires_at.to_rfc3339(),
        "csrf": grant.csrf.as_str(),
    }))
    .into_response())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Compare digests so that the comparison time does not depend on the secret's length.
    TokenHash::of(a).ct_eq(&TokenHash::of(b))
}

async fn logout(
    State(state): State<AuthState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, AuthError> {
    let sessions = &state.ctx.sessions;
    let sid = match Authenticated::from_headers(&state.ctx, &method, &headers).await {
        Ok(auth) => auth.session.id,
        // Once the access token has expired, the refresh cookie plus CSRF ends the session.
        Err(AuthError::Unauthorized) => {
            let token = state
                .ctx
                .cookies
                .read_refresh(&headers)
                .ok_or(AuthError::Unauthorized)?;
            let session = match sessions.session_for_refresh(token).await {
                Ok(session) => session,
                Err(e) => {
                    let err = AuthError::from(e);
                    let mut res = err.into_response();
                    // The cookies this browser sent name no live session (it was already ended,
                    // for example server to server by the web server's logout, or the token is
                    // unknown): nothing is left to end, but the browser must not keep dead
                    // cookies. Only cookies that were presented, and are dead, get cleared.
                    if res.status() == StatusCode::UNAUTHORIZED {
                        clear_session_cookies(&state, res.headers_mut());
                    }
                    return Ok(res);
                }
            };
            if !csrf_matches(&headers, &session) {
                return Err(AuthError::Csrf);
            }
            session.id
        }
        Err(other) => return Err(other),
    };
    sessions.logout(&sid).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    clear_session_cookies(&state, res.headers_mut());
    Ok(res)
}

async fn logout_all(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Response, AuthError> {
    state.ctx.sessions.logout_user(auth.user_id()).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    clear_session_cookies(&state, res.headers_mut());
    Ok(res)
}

/// `{current_password, new_password}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: SecretDe,
    new_password: SecretDe,
}

async fn change_password(
    State(state): State<AuthState>,
    auth: Authenticated,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<Response, AuthError> {
    let ok = state
        .accounts
        .change_password(
            auth.user_id(),
            body.current_password.into_secret(),
            body.new_password.into_secret(),
        )
        .await?;
    if !ok {
        return Err(AuthError::Unauthorized);
    }
    // A changed password ends every other session: a thief's session must not survive it.
    let sessions = &state.ctx.sessions;
    for s in sessions.list_sessions(auth.user_id()).await? {
        if s.id != auth.session.id {
            sessions.logout(&s.id).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A session as the device list shows it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// When it was opened (RFC 3339).
    pub created_at: String,
    /// When it was last used (RFC 3339).
    pub last_used_at: String,
    /// When it ends at the latest (RFC 3339).
    pub expires_at: String,
    /// Browser user agent.
    pub user_agent: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl SessionView {
    /// The view of `s`, as seen from session `current`.
    pub fn of(s: &SessionRecord, current: &SessionId) -> Self {
        Self {
            id: s.id.to_string(),
            created_at: s.created_at.to_rfc3339(),
            last_used_at: s.last_used_at.to_rfc3339(),
            expires_at: s.effective_expiry().to_rfc3339(),
            user_agent: s.client.user_agent.clone(),
            ip: s.client.ip.clone(),
            current: &s.id == current,
        }
    }
}

async fn me(State(state): State<AuthState>, auth: Authenticated) -> Result<Response, AuthError> {
    let user = state
        .accounts
        .user(auth.user_id())
        .await?
        .ok_or(AuthError::Unauthorized)?;
    Ok(Json(
        json!({ "user": user.public, "session": SessionView::of(&auth.session, &auth.session.id) }),
    )
    .into_response())
}

async fn list_sessions(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Response, AuthError> {
    let list = state.ctx.sessions.list_sessions(auth.user_id()).await?;
    let views: Vec<_> = list
        .iter()
        .map(|s| SessionView::of(s, &auth.session.id))
        .collect();
    Ok(Json(views).into_response())
}

async fn revoke_session(
    State(state): State<AuthState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, AuthError> {
    let sid = SessionId::parse(&id).ok_or(AuthError::NotFound)?;
    if !state.ctx.sessions.revoke(auth.user_id(), &sid).await? {
        return Err(AuthError::NotFound);
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    if sid == auth.session.id {
        clear_session_cookies(&state, res.headers_mut());
    }
    Ok(res)
}

/// `Cache-Control: no-store` value, for applications building their own auth responses.
pub const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
