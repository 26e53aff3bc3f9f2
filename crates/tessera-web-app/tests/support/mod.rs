//! A test kit that boots **real** servers in-process on `127.0.0.1:0` and drives them over
//! loopback the way a browser and `tessera.js` would.
//!
//! - The API is [`tessera_api::Api::with_parts`] (memory session store, a users-and-notes
//!   SQLite file in a temp dir, a relay secret, the web's public origin as the one CORS
//!   origin); the web server is [`tessera_web_app::router`] over [`WebContext::new`]. Both are
//!   served by [`tessera_axum::server::serve`], with every production layer.
//! - Both share one [`ManualClock`], so expiry is tested by moving time, never by sleeping.
//! - Cookies are handled by hand: `Set-Cookie` is parsed into [`SetCookie`] so attributes can
//!   be asserted, and each request writes its `Cookie` header itself. Requests add the
//!   `Origin` / `Sec-Fetch-Site` headers a browser would ([`Site`]).
//! - The test knows the web server's cookie key, so it can open the sealed cookie and check
//!   what it holds.

pub(crate) mod jwt_backend;
pub(crate) mod recorder;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap as AxumHeaderMap, HeaderValue};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;
use tessera_api::repo::sqlite::SqliteRepository;
use tessera_api::{Api, ApiConfig};
use tessera_axum::RelayMode;
use tessera_axum::server::serve;
use tessera_core::secret::SecretString;
use tessera_core::{KeyAlgorithm, KeySet, ManualClock, MemoryStore};
use tessera_web::cookie::SessionCookie;
use tessera_web::seal::CookieKey;
use tessera_web::{WebConfig, WebContext};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The web server's public origin (what browsers see and send as `Origin`).
pub(crate) const WEB_ORIGIN: &str = "https://app.tessera.test";
/// How browsers reach the API (only used in the CSP and the page's data attributes).
pub(crate) const API_PUBLIC_URL: &str = "https://api.tessera.test";
/// The web session cookie.
pub(crate) const WEB_COOKIE: &str = "__Host-tessera-web";
/// The API's access cookie.
pub(crate) const ACCESS_COOKIE: &str = "__Host-tessera-access";
/// The API's refresh cookie.
pub(crate) const REFRESH_COOKIE: &str = "__Secure-tessera-refresh";
/// A password that passes the API's policy.
pub(crate) const PASSWORD: &str = "correct horse battery staple";
/// An origin that is not ours.
pub(crate) const EVIL_ORIGIN: &str = "https://evil.example";

/// A plain HTTP client: no cookie store, no redirects followed, no proxy.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A router served on `127.0.0.1:0`. Dropping it stops the server.
#[derive(Debug)]
pub(crate) struct Served {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// The listening address.
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Serves `router` with [`tessera_axum::server::serve`].
    pub(crate) fn start(router: Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, None, async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// The absolute URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

/// How to start an API server.
#[derive(Debug, Clone)]
pub(crate) struct ApiOptions {
    /// Access-token lifetime.
    pub(crate) access_ttl: Duration,
    /// `aud` of its access tokens.
    pub(crate) audience: String,
    /// Whether login and refresh answers also carry `access`.
    pub(crate) relay_mode: RelayMode,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            audience: "tessera".into(),
            relay_mode: RelayMode::Code,
        }
    }
}

/// A running API server.
#[derive(Debug)]
pub(crate) struct ApiServer {
    /// Where it listens.
    pub(crate) served: Served,
    /// The API's parts (session engine, repository).
    pub(crate) api: Api,
    /// Its signing keys.
    pub(crate) keys: Arc<KeySet>,
    /// The secret a web server presents to `/auth/relay`.
    pub(crate) relay_secret: String,
    _dir: TempDir,
}

fn random_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(CookieKey::generate_bytes().unwrap())
}

impl ApiServer {
    /// Boots an API on `clock`.
    pub(crate) async fn start(clock: &ManualClock, opts: ApiOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap());
        let relay_secret = format!("relay-{}", random_token());
        let mut config = ApiConfig::new(Arc::clone(&keys));
        config.allowed_origins = vec![WEB_ORIGIN.to_owned()];
        config.relay_secret = Some(SecretString::new(relay_secret.clone()));
        config.relay_mode = opts.relay_mode;
        config.access_ttl = opts.access_ttl;
        config.audience = opts.audience;
        config.password_concurrency = 2;
        let users_url = format!("sqlite://{}", dir.path().join("users.db").display());
        let repo = Arc::new(SqliteRepository::connect(&users_url).await.unwrap());
        let api = Api::with_parts(
            &config,
            Arc::new(MemoryStore::new()),
            repo,
            Arc::new(clock.clone()),
        )
        .unwrap();
        let served = Served::start(api.router.clone());
        Self {
            served,
            api,
            keys,
            relay_secret,
            _dir: dir,
        }
    }
}

/// The default web configuration in front of the API at `api_url`.
pub(crate) fn web_config(api_url: &str, relay_secret: Option<&str>) -> WebConfig {
    let mut c = WebConfig::new(WEB_ORIGIN, api_url);
    c.api_public_url = API_PUBLIC_URL.into();
    c.relay_secret = relay_secret.map(SecretString::new);
    c
}

/// A running web server.
#[derive(Debug)]
pub(crate) struct WebServer {
    /// Where it listens.
    pub(crate) served: Served,
    key: [u8; 32],
}

impl WebServer {
    /// Boots the notes web app with `config` on `clock`.
    pub(crate) fn start(config: WebConfig, clock: &ManualClock) -> Self {
        let key = CookieKey::generate_bytes().unwrap();
        let ctx = WebContext::new(
            config,
            CookieKey::from_bytes(&key).unwrap(),
            Arc::new(clock.clone()),
            None,
        )
        .unwrap();
        let router = tessera_web_app::router(ctx, tessera_web_app::AppOptions::default());
        Self {
            served: Served::start(router),
            key,
        }
    }

    /// Opens a sealed web cookie value with this server's key.
    pub(crate) fn open(&self, value: &str) -> Option<SessionCookie> {
        let key = CookieKey::from_bytes(&self.key).unwrap();
        let mut h = AxumHeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&format!("{WEB_COOKIE}={value}")).unwrap(),
        );
        SessionCookie::read(&key, &h)
    }

    /// The plaintext a sealed web cookie value holds.
    pub(crate) fn open_raw(&self, value: &str) -> Option<String> {
        let key = CookieKey::from_bytes(&self.key).unwrap();
        key.open(WEB_COOKIE, value)
            .map(|b| String::from_utf8(b).unwrap())
    }
}

/// What the browser's request looks like to the server's same-origin checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site<'a> {
    /// `Sec-Fetch-Site: same-origin` and `Origin: <web origin>` (a modern browser, same page).
    SameOrigin,
    /// `Origin: <web origin>` only (a browser that sends no Fetch Metadata).
    OriginOnly,
    /// `Sec-Fetch-Site` and `Origin` as given (`None` leaves the header out).
    Custom {
        /// `Sec-Fetch-Site`.
        fetch_site: Option<&'a str>,
        /// `Origin`.
        origin: Option<&'a str>,
    },
}

impl Site<'_> {
    /// Adds the headers to a request.
    pub(crate) fn apply(self, rb: RequestBuilder) -> RequestBuilder {
        let (fetch_site, origin) = match self {
            Site::SameOrigin => (Some("same-origin"), Some(WEB_ORIGIN)),
            Site::OriginOnly => (None, Some(WEB_ORIGIN)),
            Site::Custom { fetch_site, origin } => (fetch_site, origin),
        };
        let mut rb = rb;
        if let Some(s) = fetch_site {
            rb = rb.header("sec-fetch-site", s);
        }
        if let Some(o) = origin {
            rb = rb.header("origin", o);
        }
        rb
    }
}

/// `Sec-Fetch-Site: cross-site` from the evil origin.
pub(crate) const CROSS_SITE: Site<'static> = Site::Custom {
    fetch_site: Some("cross-site"),
    origin: Some(EVIL_ORIGIN),
};

/// What a login on the API gave the browser.
#[derive(Debug, Clone)]
pub(crate) struct ApiLogin {
    /// The masked backend CSRF token from the login answer.
    pub(crate) csrf: String,
    /// The relay code.
    pub(crate) relay_code: String,
    /// The API's access cookie value (the access JWT).
    pub(crate) access: String,
    /// The API's refresh cookie value.
    pub(crate) refresh: String,
    /// The whole answer.
    pub(crate) body: Value,
}

/// A browser signed in on the API and on the web server.
#[derive(Debug, Clone)]
pub(crate) struct Browser {
    /// What the API login gave.
    pub(crate) login: ApiLogin,
    /// The web session cookie value.
    pub(crate) web: String,
}

/// A user agent string for the device list.
pub(crate) const UA: &str = "tessera-web-tests";

/// An API and a web server in front of it, on one clock.
#[derive(Debug)]
pub(crate) struct Stack {
    /// The shared clock.
    pub(crate) clock: ManualClock,
    /// The API.
    pub(crate) api: ApiServer,
    /// The web server.
    pub(crate) web: WebServer,
    /// The browser's HTTP client.
    pub(crate) http: reqwest::Client,
}

impl Stack {
    /// API with default options, web server in code relay mode.
    pub(crate) async fn start() -> Self {
        Self::with(ApiOptions::default(), |c| c).await
    }

    /// API with `opts`; the web configuration passes through `tweak`.
    pub(crate) async fn with(opts: ApiOptions, tweak: impl FnOnce(WebConfig) -> WebConfig) -> Self {
        let clock = ManualClock::starting_now();
        let api = ApiServer::start(&clock, opts).await;
        let config = tweak(web_config(&api.served.base, Some(&api.relay_secret)));
        let web = WebServer::start(config, &clock);
        Self {
            clock,
            api,
            web,
            http: client(),
        }
    }

    /// Moves the shared clock.
    pub(crate) fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    // ---- the API, as the browser or a test calls it -------------------------------------

    /// `method path` on the API.
    pub(crate) fn api_req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.api.served.url(path))
    }

    /// Signs up a user.
    pub(crate) async fn create_user(&self, email: &str) {
        let r = send(
            self.api_req(Method::POST, "/auth/signup")
                .header("origin", WEB_ORIGIN)
                .json(&json!({ "email": email, "password": PASSWORD })),
        )
        .await;
        assert_eq!(r.status, 201, "signup {email}: {}", r.text());
    }

    /// `POST /auth/login` as `tessera.js` does it (credentials included, from the web origin).
    pub(crate) async fn api_login(&self, email: &str) -> ApiLogin {
        let r = send(
            self.api_req(Method::POST, "/auth/login")
                .header("origin", WEB_ORIGIN)
                .header("user-agent", UA)
                .json(&json!({ "email": email, "password": PASSWORD })),
        )
        .await;
        assert_eq!(r.status, 200, "login {email}: {}", r.text());
        let body = r.json();
        ApiLogin {
            csrf: body["csrf"].as_str().unwrap().to_owned(),
            relay_code: body["relay_code"].as_str().unwrap().to_owned(),
            access: r.cookie(ACCESS_COOKIE).unwrap().value,
            refresh: r.cookie(REFRESH_COOKIE).unwrap().value,
            body,
        }
    }

    /// `GET path` on the API with `Authorization: Bearer`.
    pub(crate) async fn api_get(&self, access: &str, path: &str) -> Resp {
        send(self.api_req(Method::GET, path).bearer_auth(access)).await
    }

    /// The bodies of a user's notes, straight from the API.
    pub(crate) async fn note_bodies(&self, access: &str) -> Vec<String> {
        let r = self.api_get(access, "/notes").await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["body"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Creates a note through the API with `Authorization: Bearer`.
    pub(crate) async fn create_note(&self, access: &str, body: &str) {
        let r = send(
            self.api_req(Method::POST, "/notes")
                .bearer_auth(access)
                .json(&json!({ "body": body })),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }

    /// `POST /auth/refresh` as `tessera.js` does it: the refresh cookie and `X-CSRF-Token`.
    pub(crate) async fn api_refresh(&self, refresh: &str, csrf: &str) -> Resp {
        send(
            self.api_req(Method::POST, "/auth/refresh")
                .header("origin", WEB_ORIGIN)
                .header("cookie", format!("{REFRESH_COOKIE}={refresh}"))
                .header("x-csrf-token", csrf),
        )
        .await
    }

    /// The API session id behind an access token.
    pub(crate) async fn session_id(&self, access: &str) -> String {
        let r = self.api_get(access, "/auth/me").await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["session"]["id"].as_str().unwrap().to_owned()
    }

    // ---- the web server ------------------------------------------------------------------

    /// `method path` on the web server.
    pub(crate) fn web_req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.web.served.url(path))
    }

    /// `POST /session` with `X-Relay-Code`, as `tessera.js` sends it (same origin), carrying
    /// the web cookie the browser holds, if any.
    pub(crate) async fn relay(&self, code: &str, web_cookie: Option<&str>) -> Resp {
        let mut rb = Site::SameOrigin
            .apply(self.web_req(Method::POST, "/session"))
            .header("x-relay-code", code);
        if let Some(c) = web_cookie {
            rb = rb.header("cookie", format!("{WEB_COOKIE}={c}"));
        }
        send(rb).await
    }

    /// Relays `code` and returns the new web cookie value (asserting success).
    pub(crate) async fn relay_ok(&self, code: &str, web_cookie: Option<&str>) -> String {
        let r = self.relay(code, web_cookie).await;
        assert_eq!(r.status, 204, "relay: {}", r.text());
        r.cookie(WEB_COOKIE).expect("relay set no cookie").value
    }

    /// Logs in on the API and relays the code, like `tessera.js`'s `login()`.
    pub(crate) async fn sign_in(&self, email: &str) -> Browser {
        let login = self.api_login(email).await;
        let web = self.relay_ok(&login.relay_code, None).await;
        Browser { login, web }
    }

    /// Creates a user and signs them in.
    pub(crate) async fn new_user(&self, email: &str) -> Browser {
        self.create_user(email).await;
        self.sign_in(email).await
    }

    /// A page navigation (`GET`) with the web cookie (if any).
    pub(crate) async fn page(&self, path: &str, web_cookie: Option<&str>) -> Resp {
        let mut rb = self
            .web_req(Method::GET, path)
            .header("sec-fetch-site", "same-origin")
            .header("sec-fetch-mode", "navigate");
        if let Some(c) = web_cookie {
            rb = rb.header("cookie", format!("{WEB_COOKIE}={c}"));
        }
        send(rb).await
    }

    /// A page that must render (200, not the refresh document); returns its HTML.
    pub(crate) async fn page_ok(&self, path: &str, web_cookie: &str) -> String {
        let r = self.page(path, Some(web_cookie)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(
            r.header("x-tessera-refresh").is_none(),
            "{path} answered the refresh document"
        );
        r.text()
    }

    /// The synchronizer token of the notes page.
    pub(crate) async fn form_token(&self, web_cookie: &str) -> String {
        let html = self.page_ok("/", web_cookie).await;
        input_by_name(&html, "csrf_token").expect("no csrf_token input")
    }

    /// A form `POST` to the web server.
    pub(crate) async fn form(
        &self,
        path: &str,
        web_cookie: Option<&str>,
        site: Site<'_>,
        fields: &[(&str, &str)],
    ) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut rb = site
            .apply(self.web_req(Method::POST, path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = web_cookie {
            rb = rb.header("cookie", format!("{WEB_COOKIE}={c}"));
        }
        send(rb).await
    }
}

/// Sends a request and reads the whole response.
pub(crate) async fn send(rb: RequestBuilder) -> Resp {
    let res = rb.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.unwrap().to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    /// Status code.
    pub(crate) status: u16,
    /// Headers.
    pub(crate) headers: HeaderMap,
    /// Body bytes.
    pub(crate) body: Vec<u8>,
}

impl Resp {
    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// A header's only value, as text.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let mut values = self.headers.get_all(name).iter();
        let first = values.next()?;
        assert!(values.next().is_none(), "{name} appears more than once");
        Some(first.to_str().unwrap().to_owned())
    }

    /// Every `Set-Cookie`, parsed.
    pub(crate) fn cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| SetCookie::parse(v.to_str().unwrap()))
            .collect()
    }

    /// The one `Set-Cookie` for `name`.
    pub(crate) fn cookie(&self, name: &str) -> Option<SetCookie> {
        let mut found: Vec<_> = self
            .cookies()
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        assert!(found.len() <= 1, "{name} set twice: {found:?}");
        found.pop()
    }

    /// Asserts the status and that no cookie at all was set.
    #[track_caller]
    pub(crate) fn assert_refused(&self, status: u16, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.text());
        assert!(
            self.headers.get("set-cookie").is_none(),
            "{what} set a cookie: {:?}",
            self.cookies()
        );
    }

    /// Asserts the refresh document for `next`; returns the backend CSRF it embeds.
    #[track_caller]
    pub(crate) fn assert_refresh_document(&self, next: &str) -> String {
        assert_eq!(self.status, 200, "{}", self.text());
        assert_eq!(
            self.header("x-tessera-refresh").as_deref(),
            Some("1"),
            "not the refresh document: {}",
            self.text()
        );
        assert_eq!(self.header("cache-control").as_deref(), Some("no-store"));
        let html = self.text();
        assert!(html.contains("data-tessera-page=\"refresh\""), "{html}");
        assert_eq!(attr(&html, "data-next").as_deref(), Some(next), "{html}");
        assert!(
            self.headers.get("set-cookie").is_none(),
            "the refresh document sets no cookie"
        );
        input_by_id(&html, "backend-csrf").expect("no backend-csrf input")
    }

    /// Asserts a redirect to the login page and returns the decoded `next`.
    #[track_caller]
    pub(crate) fn assert_login_redirect(&self) -> String {
        assert_eq!(self.status, 303, "{}", self.text());
        let location = self.header("location").unwrap();
        let q = location
            .strip_prefix("/login?next=")
            .unwrap_or_else(|| panic!("not a login redirect: {location}"));
        url_decode(q)
    }
}

/// One parsed `Set-Cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetCookie {
    /// The whole header value.
    pub(crate) raw: String,
    /// Name.
    pub(crate) name: String,
    /// Value.
    pub(crate) value: String,
    /// Attributes, names lower-cased, in order.
    pub(crate) attrs: Vec<(String, Option<String>)>,
}

impl SetCookie {
    fn parse(raw: &str) -> Self {
        let mut parts = raw.split(';');
        let (name, value) = parts.next().unwrap().trim().split_once('=').unwrap();
        let attrs = parts
            .map(|p| {
                let p = p.trim();
                match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_owned())),
                    None => (p.to_ascii_lowercase(), None),
                }
            })
            .collect();
        Self {
            raw: raw.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            attrs,
        }
    }

    /// The value of attribute `name` (`Some(None)` for a flag).
    pub(crate) fn attr(&self, name: &str) -> Option<Option<&str>> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }

    /// Asserts `Secure; HttpOnly; SameSite=Strict; Path=/`, no `Domain`, under 4096 bytes.
    #[track_caller]
    pub(crate) fn assert_host_policy(&self) {
        assert_eq!(self.attr("secure"), Some(None), "{}", self.raw);
        assert_eq!(self.attr("httponly"), Some(None), "{}", self.raw);
        assert_eq!(self.attr("samesite"), Some(Some("Strict")), "{}", self.raw);
        assert_eq!(self.attr("path"), Some(Some("/")), "{}", self.raw);
        assert_eq!(self.attr("domain"), None, "{}", self.raw);
        assert!(
            !self.raw.to_ascii_lowercase().contains("domain"),
            "{}",
            self.raw
        );
        assert!(self.raw.len() < 4096, "{} bytes", self.raw.len());
    }
}

// ---- HTML and URL helpers ---------------------------------------------------------------

/// Undoes HTML escaping (named `&amp; &lt; &gt; &quot;` and numeric `&#NN;` / `&#xHH;`).
pub(crate) fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest
            .find(';')
            .unwrap_or_else(|| panic!("bad entity in {s:?}"));
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = match entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => entity.strip_prefix('#').unwrap_or("?").parse(),
                };
                char::from_u32(n.unwrap_or_else(|_| panic!("bad entity &{entity}; in {s:?}")))
                    .unwrap()
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The tag (from `<` to `>`) around byte offset `at`.
fn tag_around(html: &str, at: usize) -> &str {
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

/// The (unescaped) value of `attr_name` in `tag`.
fn attr_in(tag: &str, attr_name: &str) -> Option<String> {
    let needle = format!(" {attr_name}=\"");
    let i = tag.find(&needle)? + needle.len();
    let end = tag[i..].find('"')?;
    Some(html_unescape(&tag[i..i + end]))
}

/// The value of the first `<input>` with `id="…"`.
pub(crate) fn input_by_id(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!(" id=\"{id}\""))?;
    let tag = tag_around(html, at);
    assert!(tag.starts_with("<input"), "{tag}");
    assert!(tag.contains("type=\"hidden\""), "{tag}");
    attr_in(tag, "value")
}

/// The value of the first `<input>` with `name="…"`.
pub(crate) fn input_by_name(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!(" name=\"{name}\""))?;
    attr_in(tag_around(html, at), "value")
}

/// The (unescaped) value of the first `attr_name="…"` anywhere.
pub(crate) fn attr(html: &str, attr_name: &str) -> Option<String> {
    let at = html.find(&format!(" {attr_name}=\""))?;
    attr_in(&html[at..], attr_name)
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Decodes percent-encoding (`+` is a space).
pub(crate) fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// A well-formed mask (88 characters of standard base64) of a random secret.
pub(crate) fn random_mask() -> String {
    let secret = CookieKey::generate_bytes().unwrap();
    let pad = CookieKey::generate_bytes().unwrap();
    tessera_core::csrf::mask_with(&secret, &pad)
}
