//! `tessera web`: the web server (server-side rendering, relay, silent refresh).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use serde::{Deserialize, Serialize};
use tessera_axum::RelayMode;
use tessera_axum::server::{TlsFiles, serve, shutdown_signal};
use tessera_core::clock::SystemClock;
use tessera_core::secret::SecretString;
use tessera_web::seal::CookieKey;
use tessera_web::{BackendConventions, VerifyMode, WebConfig, WebContext};

use crate::api::RelayModeArg;
use crate::config::{duration, layered, tls_files};

/// Flags of `tessera web`. Each is also `TESSERA_<NAME>` and a key of the `--config` file.
#[derive(Debug, Args, Serialize, Default)]
pub(crate) struct WebArgs {
    /// TOML file with any of these settings (keys as the flag names, with `_`).
    #[arg(long, env = "TESSERA_CONFIG")]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:3000].
    #[arg(long, env = "TESSERA_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen: Option<SocketAddr>,
    /// This server's origin as browsers see it, e.g. https://app.example.com [default: http://localhost:3000].
    #[arg(long, env = "TESSERA_PUBLIC_ORIGIN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) public_origin: Option<String>,
    /// How this server reaches the API [default: http://127.0.0.1:4000].
    #[arg(long, env = "TESSERA_API_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_url: Option<String>,
    /// How browsers reach the API [default: http://localhost:4000].
    #[arg(long, env = "TESSERA_API_PUBLIC_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_public_url: Option<String>,
    /// A CA certificate (PEM) to trust for calls to the API.
    #[arg(long, env = "TESSERA_API_CA")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_ca: Option<PathBuf>,
    /// The audience relayed tokens must carry [default: tessera].
    #[arg(long, env = "TESSERA_AUDIENCE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) audience: Option<String>,
    /// `code` or `token` [default: code].
    #[arg(long, env = "TESSERA_RELAY_MODE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_mode: Option<RelayModeArg>,
    /// Shared secret presented to the API's relay endpoint (code mode).
    #[arg(long, env = "TESSERA_RELAY_SECRET", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_secret: Option<String>,
    /// Header carrying the access token in token mode [default: X-Backend-Access-Token].
    #[arg(long, env = "TESSERA_RELAY_ACCESS_HEADER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_access_header: Option<String>,
    /// Header carrying the CSRF token in token mode [default: X-Backend-CSRF-Token].
    #[arg(long, env = "TESSERA_RELAY_CSRF_HEADER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_csrf_header: Option<String>,
    /// Check relayed tokens by one authenticated GET of this backend path instead of JWKS (for backends without JWKS).
    #[arg(long, env = "TESSERA_VERIFY_PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) verify_path: Option<String>,
    /// The cookie key: 32 bytes, URL-safe base64 [default: generated and kept in the data directory].
    #[arg(long, env = "TESSERA_COOKIE_KEY", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cookie_key: Option<String>,
    /// Where a generated cookie key is kept [default: .tessera].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Refresh this long before the access token expires [default: 30s].
    #[arg(long, env = "TESSERA_REFRESH_MARGIN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_margin: Option<String>,
    /// Lifetime of the web session cookie [default: 7d].
    #[arg(long, env = "TESSERA_SESSION_TTL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_ttl: Option<String>,
    /// Backend JSON field of the access token [default: access].
    #[arg(long, env = "TESSERA_BACKEND_ACCESS_FIELD")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend_access_field: Option<String>,
    /// Backend JSON field of the CSRF token [default: csrf].
    #[arg(long, env = "TESSERA_BACKEND_CSRF_FIELD")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend_csrf_field: Option<String>,
    /// Backend CSRF header [default: X-CSRF-Token].
    #[arg(long, env = "TESSERA_BACKEND_CSRF_HEADER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend_csrf_header: Option<String>,
    /// Backend login path [default: /auth/login].
    #[arg(long, env = "TESSERA_BACKEND_LOGIN_PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend_login_path: Option<String>,
    /// Backend signup path [default: /auth/signup].
    #[arg(long, env = "TESSERA_BACKEND_SIGNUP_PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend_signup_path: Option<String>,
    /// Backend refresh path [default: /auth/refresh].
    #[arg(long, env = "TESSERA_BACKEND_REFRESH_PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend_refresh_path: Option<String>,
    /// Backend logout path [default: /auth/logout].
    #[arg(long, env = "TESSERA_BACKEND_LOGOUT_PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backend_logout_path: Option<String>,
    /// TLS certificate chain (PEM); serves HTTPS with --tls-key.
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "TESSERA_LOG_FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_format: Option<crate::LogFormat>,
}

/// The merged settings.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebSettings {
    pub(crate) listen: SocketAddr,
    pub(crate) public_origin: String,
    pub(crate) api_url: String,
    pub(crate) api_public_url: String,
    pub(crate) api_ca: Option<PathBuf>,
    pub(crate) audience: String,
    pub(crate) relay_mode: RelayModeArg,
    pub(crate) relay_secret: Option<String>,
    pub(crate) relay_access_header: String,
    pub(crate) relay_csrf_header: String,
    pub(crate) verify_path: Option<String>,
    pub(crate) cookie_key: Option<String>,
    pub(crate) data_dir: PathBuf,
    pub(crate) refresh_margin: String,
    pub(crate) session_ttl: String,
    pub(crate) backend_access_field: String,
    pub(crate) backend_csrf_field: String,
    pub(crate) backend_csrf_header: String,
    pub(crate) backend_login_path: String,
    pub(crate) backend_signup_path: String,
    pub(crate) backend_refresh_path: String,
    pub(crate) backend_logout_path: String,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) log_format: crate::LogFormat,
}

impl Default for WebSettings {
    fn default() -> Self {
        let b = BackendConventions::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_origin: "http://localhost:3000".into(),
            api_url: "http://127.0.0.1:4000".into(),
            api_public_url: "http://localhost:4000".into(),
            api_ca: None,
            audience: "tessera".into(),
            relay_mode: RelayModeArg::Code,
            relay_secret: None,
            relay_access_header: "X-Backend-Access-Token".into(),
            relay_csrf_header: "X-Backend-CSRF-Token".into(),
            verify_path: None,
            cookie_key: None,
            data_dir: PathBuf::from(".tessera"),
            refresh_margin: "30s".into(),
            session_ttl: "7d".into(),
            backend_access_field: b.access_field,
            backend_csrf_field: b.csrf_field,
            backend_csrf_header: b.csrf_header,
            backend_login_path: b.login_path,
            backend_signup_path: b.signup_path,
            backend_refresh_path: b.refresh_path,
            backend_logout_path: b.logout_path,
            tls_cert: None,
            tls_key: None,
            log_format: crate::LogFormat::Text,
        }
    }
}

fn check_origin(name: &str, value: &str) -> anyhow::Result<String> {
    let v = value.trim_end_matches('/');
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.split("://")
            .nth(1)
            .is_some_and(|h| !h.is_empty() && !h.contains('/'));
    if !ok {
        bail!("{name} must be scheme://host[:port], got {value:?}");
    }
    Ok(v.to_owned())
}

impl WebSettings {
    pub(crate) fn load(args: &WebArgs) -> anyhow::Result<Self> {
        layered(args.config.as_ref(), args)
    }

    pub(crate) fn into_config(self) -> anyhow::Result<(WebConfig, Option<TlsFiles>)> {
        let mut c = WebConfig::new(
            check_origin("--public-origin", &self.public_origin)?,
            self.api_url.trim_end_matches('/'),
        );
        c.api_public_url = check_origin("--api-public-url", &self.api_public_url)?;
        c.audience = self.audience;
        c.relay_mode = self.relay_mode.into();
        if c.relay_mode == RelayMode::Code && self.relay_secret.is_none() {
            bail!("--relay-mode code needs --relay-secret (the same value the API has)");
        }
        c.relay_secret = self.relay_secret.map(SecretString::new);
        c.relay_access_header = self.relay_access_header;
        c.relay_csrf_header = self.relay_csrf_header;
        c.verify = match self.verify_path {
            Some(p) if p.starts_with('/') => VerifyMode::Path(p),
            Some(p) => bail!("--verify-path must start with /, got {p:?}"),
            None => VerifyMode::Jwks,
        };
        c.backend = BackendConventions {
            access_field: self.backend_access_field,
            csrf_field: self.backend_csrf_field,
            csrf_header: self.backend_csrf_header,
            login_path: self.backend_login_path,
            signup_path: self.backend_signup_path,
            refresh_path: self.backend_refresh_path,
            logout_path: self.backend_logout_path,
            ..BackendConventions::default()
        };
        c.refresh_margin = duration("refresh-margin", &self.refresh_margin)?;
        c.session_ttl = duration("session-ttl", &self.session_ttl)?;
        let tls = tls_files(self.tls_cert, self.tls_key)?;
        c.tls = tls.is_some();
        Ok((c, tls))
    }
}

/// The cookie key from `--cookie-key`, or from `DATA_DIR/cookie.key`, created on first use.
pub(crate) fn cookie_key(given: Option<&str>, data_dir: &Path) -> anyhow::Result<CookieKey> {
    let bytes = match given {
        Some(text) => URL_SAFE_NO_PAD
            .decode(text.trim())
            .context("--cookie-key is not URL-safe base64")?,
        None => {
            let path = data_dir.join("cookie.key");
            let text = crate::read_or_create_secret(&path, || {
                Ok(URL_SAFE_NO_PAD.encode(CookieKey::generate_bytes()?))
            })?;
            URL_SAFE_NO_PAD
                .decode(text.trim())
                .with_context(|| format!("{} is not URL-safe base64", path.display()))?
        }
    };
    Ok(CookieKey::from_bytes(&bytes)?)
}

/// Builds the web app's router from settings.
pub(crate) fn build(
    settings: WebSettings,
    options: tessera_web_app::AppOptions,
) -> anyhow::Result<(axum::Router, SocketAddr, Option<TlsFiles>)> {
    let key = cookie_key(settings.cookie_key.as_deref(), &settings.data_dir)?;
    let ca = match &settings.api_ca {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let listen = settings.listen;
    let (config, tls) = settings.into_config()?;
    let ctx = WebContext::new(config, key, Arc::new(SystemClock), ca.as_deref())?;
    Ok((tessera_web_app::router(ctx, options), listen, tls))
}

/// Runs the web server until SIGINT or SIGTERM.
pub(crate) async fn run(args: WebArgs) -> anyhow::Result<()> {
    let settings = WebSettings::load(&args)?;
    crate::init_logging(settings.log_format);
    let (router, listen, tls) = build(settings, tessera_web_app::AppOptions::default())?;
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, tls = tls.is_some(), "tessera web listening");
    serve(listener, router, tls, shutdown_signal()).await?;
    Ok(())
}
