//! `tessera api`: the API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use tessera_api::{Api, ApiConfig};
use tessera_axum::RelayMode;
use tessera_axum::routes::Throttle;
use tessera_axum::server::{serve, shutdown_signal};
use tessera_core::KeySet;
use tessera_core::secret::SecretString;

use crate::config::{duration, layered, tls_files};

/// Flags of `tessera api`. Each is also `TESSERA_<NAME>` and a key of the `--config` file.
#[derive(Debug, Args, Serialize, Default)]
pub(crate) struct ApiArgs {
    /// TOML file with any of these settings (keys as the flag names, with `_`).
    #[arg(long, env = "TESSERA_CONFIG")]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4000].
    #[arg(long, env = "TESSERA_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen: Option<SocketAddr>,
    /// Users and notes database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB` (TLS through `sslmode`) [default: sqlite://tessera.db].
    #[arg(long, env = "TESSERA_DATABASE_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) database_url: Option<String>,
    /// Session store: `memory`, `sqlite://PATH`, `redis://HOST:PORT[/DB]` (`rediss://` for TLS) or a Redis Cluster `redis+cluster://HOST:PORT,HOST:PORT,…` [default: memory].
    #[arg(long, env = "TESSERA_SESSION_STORE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_store: Option<String>,
    /// Key file from `tessera keygen` (or the key set's JSON in TESSERA_KEYS_JSON).
    #[arg(long, env = "TESSERA_KEYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) keys: Option<PathBuf>,
    /// `iss` of access tokens [default: tessera].
    #[arg(long, env = "TESSERA_ISSUER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) issuer: Option<String>,
    /// `aud` of access tokens [default: tessera].
    #[arg(long, env = "TESSERA_AUDIENCE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) audience: Option<String>,
    /// A web origin allowed to call with credentials (repeatable; comma-separated in the environment).
    #[arg(long, env = "TESSERA_ALLOWED_ORIGIN", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_origin: Vec<String>,
    /// Shared secret the web server presents to exchange relay codes.
    #[arg(long, env = "TESSERA_RELAY_SECRET", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_secret: Option<String>,
    /// `code` (single-use relay codes) or `token` (login JSON also carries the access token) [default: code].
    #[arg(long, env = "TESSERA_RELAY_MODE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) relay_mode: Option<RelayModeArg>,
    /// Access-token lifetime [default: 15m].
    #[arg(long, env = "TESSERA_ACCESS_TTL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_ttl: Option<String>,
    /// Absolute session lifetime [default: 7d].
    #[arg(long, env = "TESSERA_REFRESH_TTL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_ttl: Option<String>,
    /// Grace window for concurrent refreshes [default: 10s].
    #[arg(long, env = "TESSERA_REFRESH_GRACE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_grace: Option<String>,
    /// Failed logins allowed per account in one window [default: 10].
    #[arg(long, env = "TESSERA_LOGIN_MAX_FAILURES_PER_ACCOUNT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) login_max_failures_per_account: Option<u32>,
    /// Failed logins allowed per client IP in one window [default: 100].
    #[arg(long, env = "TESSERA_LOGIN_MAX_FAILURES_PER_IP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) login_max_failures_per_ip: Option<u32>,
    /// The login throttling window [default: 15m].
    #[arg(long, env = "TESSERA_LOGIN_FAILURE_WINDOW")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) login_failure_window: Option<String>,
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

/// `--relay-mode`.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RelayModeArg {
    /// Single-use relay codes.
    Code,
    /// The access token in the login JSON.
    Token,
}

impl From<RelayModeArg> for RelayMode {
    fn from(arg: RelayModeArg) -> Self {
        match arg {
            RelayModeArg::Code => RelayMode::Code,
            RelayModeArg::Token => RelayMode::Token,
        }
    }
}

/// The merged settings.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ApiSettings {
    pub(crate) listen: SocketAddr,
    pub(crate) database_url: String,
    pub(crate) session_store: String,
    pub(crate) keys: Option<PathBuf>,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) allowed_origin: Vec<String>,
    pub(crate) relay_secret: Option<String>,
    pub(crate) relay_mode: RelayModeArg,
    pub(crate) access_ttl: String,
    pub(crate) refresh_ttl: String,
    pub(crate) refresh_grace: String,
    pub(crate) login_max_failures_per_account: u32,
    pub(crate) login_max_failures_per_ip: u32,
    pub(crate) login_failure_window: String,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) log_format: crate::LogFormat,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            database_url: "sqlite://tessera.db".into(),
            session_store: "memory".into(),
            keys: None,
            issuer: "tessera".into(),
            audience: "tessera".into(),
            allowed_origin: Vec::new(),
            relay_secret: None,
            relay_mode: RelayModeArg::Code,
            access_ttl: "15m".into(),
            refresh_ttl: "7d".into(),
            refresh_grace: "10s".into(),
            login_max_failures_per_account: 10,
            login_max_failures_per_ip: 100,
            login_failure_window: "15m".into(),
            tls_cert: None,
            tls_key: None,
            log_format: crate::LogFormat::Text,
        }
    }
}

impl ApiSettings {
    /// Merges defaults, the config file and the given flags/environment.
    pub(crate) fn load(args: &ApiArgs) -> anyhow::Result<Self> {
        layered(args.config.as_ref(), args)
    }

    /// Turns the settings into the server's typed configuration.
    pub(crate) fn into_config(self, keys: Arc<KeySet>) -> anyhow::Result<ApiConfig> {
        let tls = tls_files(self.tls_cert, self.tls_key)?;
        if let Some(secret) = &self.relay_secret
            && secret.len() < 32
        {
            bail!("--relay-secret must be at least 32 characters");
        }
        let mut config = ApiConfig::new(keys);
        config.listen = self.listen;
        config.database_url = self.database_url;
        config.session_store = self.session_store;
        config.issuer = self.issuer;
        config.audience = self.audience;
        config.allowed_origins = self.allowed_origin;
        config.relay_secret = self.relay_secret.map(SecretString::new);
        config.relay_mode = self.relay_mode.into();
        config.access_ttl = duration("access-ttl", &self.access_ttl)?;
        config.refresh_ttl = duration("refresh-ttl", &self.refresh_ttl)?;
        config.refresh_grace = duration("refresh-grace", &self.refresh_grace)?;
        config.throttle = Throttle {
            per_account: self.login_max_failures_per_account,
            per_ip: self.login_max_failures_per_ip,
            window: duration("login-failure-window", &self.login_failure_window)?,
        };
        config.tls = tls;
        Ok(config)
    }
}

/// Loads the key set from `--keys`, or from the JSON in `TESSERA_KEYS_JSON`.
pub(crate) fn load_keys(path: Option<&PathBuf>) -> anyhow::Result<Arc<KeySet>> {
    let keys = match path {
        Some(p) => KeySet::load(p)?,
        None if std::env::var_os("TESSERA_KEYS_JSON").is_some() => {
            KeySet::from_env("TESSERA_KEYS_JSON")?
        }
        None => bail!(
            "no signing keys: pass --keys FILE (create one with `tessera keygen --out FILE`) or set TESSERA_KEYS_JSON"
        ),
    };
    Ok(Arc::new(keys))
}

/// Runs the API server until SIGINT or SIGTERM.
pub(crate) async fn run(args: ApiArgs) -> anyhow::Result<()> {
    let settings = ApiSettings::load(&args)?;
    crate::init_logging(settings.log_format);
    let keys = load_keys(settings.keys.as_ref())?;
    let config = settings.into_config(keys)?;
    if config.relay_secret.is_none() {
        tracing::warn!("no --relay-secret: POST /auth/relay is disabled");
    }
    let api = Api::build(&config).await?;
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(address = %format!("{scheme}://{}", listener.local_addr()?), "tessera api listening");
    serve(listener, api.router, config.tls.clone(), shutdown_signal()).await?;
    Ok(())
}
