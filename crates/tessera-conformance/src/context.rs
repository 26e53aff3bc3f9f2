//! Options, and what the cases share: the target, two accounts and a signed-in session.
//!
//! Cases that change state (logout, refresh rotation, throttling) make their own sessions and
//! accounts with the helpers here; the shared session is only read or used for harmless writes
//! (notes).

use std::fmt;
use std::time::Duration;

use reqwest::RequestBuilder;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};

use crate::error::{CaseError, ConformanceError};
use crate::http::{Resp, SetCookie, form, hidden_input, send};
use crate::target::{Target, TargetConfig};

/// The header carrying the CSRF token on unsafe API calls.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// The header carrying a refresh token for non-browser clients.
pub(crate) const REFRESH_HEADER: &str = "x-refresh-token";
/// The header carrying a relay code to the web server.
pub(crate) const RELAY_HEADER: &str = "x-relay-code";
/// The foreign origin the cases attack from.
pub(crate) const EVIL_ORIGIN: &str = "https://evil.example";

/// An account's email and password.
#[derive(Clone)]
pub struct Credentials {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("password", &"***")
            .finish()
    }
}

/// Everything a run can be told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The deployment.
    pub target: TargetConfig,
    /// The main account; `None` signs up a fresh random one. A second account, for the
    /// cross-session cases, is always signed up (with the same password if the policy takes it).
    pub credentials: Option<Credentials>,
    /// The API's refresh grace window; the reuse case waits a little longer than this.
    pub grace: Duration,
    /// The API's per-account limit of failed logins.
    pub throttle_limit: u32,
    /// Login attempts of each kind timed by the enumeration case.
    pub timing_tries: usize,
    /// Largest relative difference between the two median login times (0.25 = 25 %).
    pub timing_threshold: f64,
    /// Longest a single case may run.
    pub case_timeout: Duration,
    /// Run only cases whose id starts with one of these (all when empty).
    pub only: Vec<String>,
}

impl Options {
    /// The defaults for a deployment: 10-second grace, a limit of 10 failed logins, 15
    /// timed logins of each kind with a 25 % threshold, two minutes per case.
    pub fn new(target: TargetConfig) -> Self {
        Self {
            target,
            credentials: None,
            grace: Duration::from_secs(10),
            throttle_limit: 10,
            timing_tries: 15,
            timing_threshold: 0.25,
            case_timeout: Duration::from_secs(120),
            only: Vec::new(),
        }
    }

    /// Whether the case `id` is selected by [`Options::only`].
    pub fn selects(&self, id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| id.starts_with(p.as_str()))
    }

    fn validate(&self) -> Result<(), ConformanceError> {
        if self.throttle_limit == 0 || self.throttle_limit > 1000 {
            return Err(ConformanceError::InvalidOption(
                "throttle limit must be 1 to 1000".into(),
            ));
        }
        if self.timing_tries == 0 || self.timing_tries > 1000 {
            return Err(ConformanceError::InvalidOption(
                "timing tries must be 1 to 1000".into(),
            ));
        }
        if !(self.timing_threshold > 0.0 && self.timing_threshold.is_finite()) {
            return Err(ConformanceError::InvalidOption(
                "timing threshold must be positive".into(),
            ));
        }
        if self.grace > Duration::from_secs(600) {
            return Err(ConformanceError::InvalidOption(
                "grace must be at most 10 minutes".into(),
            ));
        }
        Ok(())
    }
}

/// An account the suite can sign in with.
#[derive(Clone)]
pub(crate) struct Account {
    /// Email.
    pub(crate) email: String,
    /// Password.
    pub(crate) password: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A session opened by `POST /auth/login`.
#[derive(Debug, Clone)]
pub(crate) struct ApiSession {
    /// The user id (`user.id` of the login answer).
    pub(crate) user_id: String,
    /// The access token (from the access cookie).
    pub(crate) access: String,
    /// The refresh token (from the refresh cookie).
    pub(crate) refresh: String,
    /// The masked CSRF token.
    pub(crate) csrf: String,
    /// The relay code, if the API issued one.
    pub(crate) relay_code: Option<String>,
    /// The access cookie's name.
    pub(crate) access_cookie: String,
    /// The refresh cookie's name.
    pub(crate) refresh_cookie: String,
    /// The login answer.
    pub(crate) login: Resp,
}

impl ApiSession {
    /// `Cookie: <access cookie>` (what a browser sends to the API outside `/auth`).
    pub(crate) fn access_cookie_header(&self) -> String {
        format!("{}={}", self.access_cookie, self.access)
    }

    /// `Cookie: <refresh cookie>` (what a browser sends to `/auth/refresh`).
    pub(crate) fn refresh_cookie_header(&self) -> String {
        format!("{}={}", self.refresh_cookie, self.refresh)
    }

    /// The relay code, or an error if the API issued none.
    pub(crate) fn code(&self) -> Result<&str, CaseError> {
        self.relay_code
            .as_deref()
            .ok_or_else(|| CaseError::Unexpected("the login answer has no relay_code".into()))
    }
}

/// A web-server session: an API session relayed to the web server.
#[derive(Debug, Clone)]
pub(crate) struct WebSession {
    /// The API session behind it.
    pub(crate) api: ApiSession,
    /// The web cookie's name.
    pub(crate) cookie_name: String,
    /// The web cookie's value.
    pub(crate) cookie_value: String,
    /// The synchronizer token of the web server's forms.
    pub(crate) form_token: String,
    /// The relay answer.
    pub(crate) relay: Resp,
}

impl WebSession {
    /// `Cookie: <web cookie>`.
    pub(crate) fn cookie_header(&self) -> String {
        format!("{}={}", self.cookie_name, self.cookie_value)
    }
}

/// What every case can use.
#[derive(Debug)]
pub struct Context {
    /// The deployment.
    pub target: Target,
    /// The options of the run.
    pub options: Options,
    pub(crate) primary: Account,
    pub(crate) secondary: Account,
    /// A session of the primary account, for cases that only read.
    pub(crate) main: ApiSession,
    /// A session of the secondary account.
    pub(crate) other: ApiSession,
}

/// 16 random bytes as hex.
pub(crate) fn random_hex() -> Result<String, CaseError> {
    use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaseError::Unexpected("no randomness".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh throwaway email address.
pub(crate) fn random_email(tag: &str) -> Result<String, CaseError> {
    Ok(format!("conformance-{tag}-{}@example.com", random_hex()?))
}

fn setup_err(what: &str) -> impl Fn(CaseError) -> ConformanceError + '_ {
    move |e| ConformanceError::Setup(format!("{what}: {e}"))
}

impl Context {
    /// Builds the client, makes the accounts and signs in.
    pub async fn setup(options: &Options) -> Result<Self, ConformanceError> {
        options.validate()?;
        let target = Target::new(&options.target)?;
        let primary = match &options.credentials {
            Some(c) => Account {
                email: c.email.clone(),
                password: c.password.clone(),
            },
            None => signup(&target, "main", None)
                .await
                .map_err(setup_err("signing up the main account"))?,
        };
        // The same password as the main account when the policy takes it (the duplicate-key
        // case is sharper then), a random one otherwise.
        let secondary = match signup(&target, "other", Some(&primary.password)).await {
            Ok(a) => a,
            Err(_) => signup(&target, "other", None)
                .await
                .map_err(setup_err("signing up the second account"))?,
        };
        let main = login(&target, &primary)
            .await
            .map_err(setup_err("signing in the main account"))?;
        let other = login(&target, &secondary)
            .await
            .map_err(setup_err("signing in the second account"))?;
        Ok(Self {
            target,
            options: options.clone(),
            primary,
            secondary,
            main,
            other,
        })
    }

    /// Signs up a throwaway account with a random password.
    pub(crate) async fn signup(&self, tag: &str) -> Result<Account, CaseError> {
        signup(&self.target, tag, None).await
    }

    /// `POST /auth/login` with JSON credentials, whatever the answer.
    pub(crate) async fn login_raw(&self, email: &str, password: &str) -> Result<Resp, CaseError> {
        login_raw(&self.target, email, password).await
    }

    /// Signs in and collects the tokens from the answer and its cookies.
    pub(crate) async fn login(&self, account: &Account) -> Result<ApiSession, CaseError> {
        login(&self.target, account).await
    }

    /// A fresh session of the main account.
    pub(crate) async fn fresh(&self) -> Result<ApiSession, CaseError> {
        self.login(&self.primary).await
    }

    /// `POST {web}/session` with a relay code, as `tessera.js` sends it (same-origin).
    pub(crate) fn relay_request(&self, code: &str) -> RequestBuilder {
        self.same_origin(self.target.client.post(self.target.web_url("/session")))
            .header(RELAY_HEADER, code)
    }

    /// Adds what a same-origin browser request carries: `Origin` and `Sec-Fetch-Site`.
    pub(crate) fn same_origin(&self, rb: RequestBuilder) -> RequestBuilder {
        rb.header("origin", &self.target.web_origin)
            .header("sec-fetch-site", "same-origin")
    }

    /// Relays a fresh session of `account` to the web server and reads a form token.
    pub(crate) async fn web_session(&self, account: &Account) -> Result<WebSession, CaseError> {
        let api = self.login(account).await?;
        let relay = send(self.relay_request(api.code()?)).await?;
        let cookie = relay
            .set_cookies()
            .into_iter()
            .find(|c| !c.value.is_empty())
            .ok_or_else(|| {
                CaseError::Unexpected(format!(
                    "the relay answered {} without a cookie",
                    relay.status
                ))
            })?;
        let form_token = self.form_token(&cookie.name, &cookie.value).await?;
        Ok(WebSession {
            api,
            cookie_name: cookie.name,
            cookie_value: cookie.value,
            form_token,
            relay,
        })
    }

    /// Reads the synchronizer token from the web server's notes page.
    pub(crate) async fn form_token(&self, name: &str, value: &str) -> Result<String, CaseError> {
        let page = send(
            self.target
                .client
                .get(self.target.web_url("/"))
                .header(COOKIE, format!("{name}={value}")),
        )
        .await?;
        hidden_input(&page.text(), "csrf_token").ok_or_else(|| {
            CaseError::Unexpected(format!(
                "GET / answered {} without a form token",
                page.status
            ))
        })
    }

    /// `POST {web}{path}` with a form body and the web cookie (no origin headers).
    pub(crate) fn web_form(
        &self,
        path: &str,
        cookie: &str,
        fields: &[(&str, &str)],
    ) -> RequestBuilder {
        self.target
            .client
            .post(self.target.web_url(path))
            .header(COOKIE, cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(fields))
    }

    /// `GET /auth/me` with a Bearer token: the status.
    pub(crate) async fn me_status(&self, access: &str) -> Result<u16, CaseError> {
        Ok(send(
            self.target
                .client
                .get(self.target.api_url("/auth/me"))
                .bearer_auth(access),
        )
        .await?
        .status)
    }

    /// The bodies of the session's notes, through the API (Bearer).
    pub(crate) async fn note_bodies(&self, s: &ApiSession) -> Result<Vec<String>, CaseError> {
        let r = send(
            self.target
                .client
                .get(self.target.api_url("/notes"))
                .bearer_auth(&s.access),
        )
        .await?;
        let list = r
            .json()
            .and_then(|v| v.get("notes").and_then(Value::as_array).cloned())
            .ok_or_else(|| CaseError::Unexpected(format!("GET /notes answered {}", r.status)))?;
        Ok(list
            .iter()
            .filter_map(|n| n.get("body").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// `POST /auth/refresh` with `X-Refresh-Token`.
    pub(crate) async fn refresh_by_header(&self, refresh: &str) -> Result<Resp, CaseError> {
        send(
            self.target
                .client
                .post(self.target.api_url("/auth/refresh"))
                .header(REFRESH_HEADER, refresh),
        )
        .await
    }
}

/// Signs up an account with a random email and `password` (random if `None`).
async fn signup(target: &Target, tag: &str, password: Option<&str>) -> Result<Account, CaseError> {
    let password = match password {
        Some(p) => p.to_owned(),
        None => format!("Cf-{}-pw", random_hex()?),
    };
    let email = random_email(tag)?;
    let r = send(
        target
            .client
            .post(target.api_url("/auth/signup"))
            .json(&json!({ "email": email, "password": password })),
    )
    .await?;
    if r.status != 201 && r.status != 200 {
        return Err(CaseError::Unexpected(format!(
            "POST /auth/signup answered {}: {}",
            r.status,
            r.text().chars().take(200).collect::<String>()
        )));
    }
    Ok(Account { email, password })
}

async fn login_raw(target: &Target, email: &str, password: &str) -> Result<Resp, CaseError> {
    send(
        target
            .client
            .post(target.api_url("/auth/login"))
            .json(&json!({ "email": email, "password": password })),
    )
    .await
}

async fn login(target: &Target, account: &Account) -> Result<ApiSession, CaseError> {
    session_from_login(login_raw(target, &account.email, &account.password).await?)
}

/// Reads a login (or cookie refresh) answer: tokens from the cookies, the rest from JSON.
pub(crate) fn session_from_login(r: Resp) -> Result<ApiSession, CaseError> {
    if r.status == 429 {
        return Err(CaseError::Unexpected(format!(
            "POST /auth/login answered 429 (Retry-After: {}): the login throttle holds, \
             probably the per-IP limit after earlier runs; wait for its window",
            r.header("retry-after").unwrap_or("none")
        )));
    }
    if r.status != 200 {
        return Err(CaseError::Unexpected(format!(
            "POST /auth/login answered {}: {}",
            r.status,
            r.text().chars().take(200).collect::<String>()
        )));
    }
    let body = r
        .json()
        .ok_or_else(|| CaseError::Unexpected("the login answer is not JSON".into()))?;
    let cookies: Vec<SetCookie> = r
        .set_cookies()
        .into_iter()
        .filter(|c| !c.value.is_empty())
        .collect();
    // The access cookie holds a JWT (three dot-separated parts); the refresh cookie does not.
    let access = cookies
        .iter()
        .find(|c| c.value.split('.').count() == 3)
        .ok_or_else(|| CaseError::Unexpected("the login set no access-token cookie".into()))?;
    let refresh = cookies
        .iter()
        .find(|c| c.name != access.name)
        .ok_or_else(|| CaseError::Unexpected("the login set no refresh-token cookie".into()))?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(ApiSession {
        user_id: body
            .get("user")
            .and_then(|u| u.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        access: access.value.clone(),
        refresh: refresh.value.clone(),
        csrf: text("csrf")
            .ok_or_else(|| CaseError::Unexpected("the login answer has no csrf".into()))?,
        relay_code: text("relay_code"),
        access_cookie: access.name.clone(),
        refresh_cookie: refresh.name.clone(),
        login: r,
    })
}
