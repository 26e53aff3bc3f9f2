//! `tessera demo`: the API on http://localhost:4000 and the web server on
//! http://localhost:3000, on embedded defaults (SQLite in a data directory, the in-process
//! session store, keys and secrets generated on first start and kept), with a seeded user.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use tessera_api::accounts::RepoAccounts;
use tessera_api::password::PasswordHasher;
use tessera_api::repo::NoteBody;
use tessera_api::{Api, ApiConfig};
use tessera_axum::AccountsError;
use tessera_axum::server::serve;
use tessera_core::clock::{Clock, SystemClock};
use tessera_core::secret::SecretString;
use tessera_core::{KeyAlgorithm, KeySet};

use crate::web::WebSettings;

/// The seeded demo account.
pub(crate) const DEMO_EMAIL: &str = "demo@example.com";
/// Its password.
pub(crate) const DEMO_PASSWORD: &str = "tessera-demo";

/// Flags of `tessera demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the database, keys and secrets are kept.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = ".tessera")]
    data_dir: PathBuf,
    /// API port (on 127.0.0.1; browsers use http://localhost:PORT).
    #[arg(long, default_value_t = 4000)]
    api_port: u16,
    /// Web port (on 127.0.0.1; browsers use http://localhost:PORT).
    #[arg(long, default_value_t = 3000)]
    web_port: u16,
    /// Access-token lifetime (short values show silent refresh at work).
    #[arg(long, default_value = "15m")]
    access_ttl: String,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    crate::init_logging(crate::LogFormat::Text);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let keys_path = args.data_dir.join("keys.json");
    let keys_json = crate::read_or_create_secret(&keys_path, || {
        Ok(KeySet::generate(KeyAlgorithm::EdDSA)?.to_json()?)
    })?;
    let keys = Arc::new(KeySet::from_json(&keys_json)?);
    let relay_secret = crate::read_or_create_secret(&args.data_dir.join("relay.secret"), || {
        use base64::Engine as _;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(tessera_web::seal::CookieKey::generate_bytes()?))
    })?;
    let web_origin = format!("http://localhost:{}", args.web_port);
    let api_origin = format!("http://localhost:{}", args.api_port);

    let mut api_config = ApiConfig::new(keys);
    api_config.listen = ([127, 0, 0, 1], args.api_port).into();
    api_config.database_url = format!("sqlite://{}", args.data_dir.join("tessera.db").display());
    api_config.session_store = "memory".into();
    api_config.allowed_origins = vec![web_origin.clone()];
    api_config.relay_secret = Some(SecretString::new(relay_secret.trim()));
    api_config.access_ttl = crate::config::duration("access-ttl", &args.access_ttl)?;
    let api = Api::build(&api_config).await?;
    seed(&api).await?;

    let web_settings = WebSettings {
        listen: ([127, 0, 0, 1], args.web_port).into(),
        public_origin: web_origin.clone(),
        api_url: format!("http://127.0.0.1:{}", args.api_port),
        api_public_url: api_origin.clone(),
        relay_secret: Some(relay_secret.trim().to_owned()),
        data_dir: args.data_dir.clone(),
        ..WebSettings::default()
    };
    let hint = format!("Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}");
    let (web_router, web_listen, _) = crate::web::build(
        web_settings,
        tessera_web_app::AppOptions {
            login_hint: Some(hint),
        },
    )?;

    let api_listener = std::net::TcpListener::bind(api_config.listen)
        .with_context(|| format!("binding {}", api_config.listen))?;
    let web_listener =
        std::net::TcpListener::bind(web_listen).with_context(|| format!("binding {web_listen}"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let api_task = tokio::spawn(serve(
        api_listener,
        api.router,
        None,
        stopped(stop_rx.clone()),
    ));
    let web_task = tokio::spawn(serve(web_listener, web_router, None, stopped(stop_rx)));

    let mut out = std::io::stdout().lock();
    writeln!(out, "\nTessera demo is running.\n")?;
    writeln!(out, "  Open      {web_origin}/")?;
    writeln!(out, "  Sign in   {DEMO_EMAIL} / {DEMO_PASSWORD}")?;
    writeln!(
        out,
        "  API       {api_origin}  (JWKS at {api_origin}/.well-known/jwks.json)"
    )?;
    writeln!(out, "  Data      {}\n", args.data_dir.display())?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    drop(out);

    tessera_axum::server::shutdown_signal().await;
    let _ = stop_tx.send(true);
    api_task.await.context("API server task")??;
    web_task.await.context("web server task")??;
    Ok(())
}

/// Creates the demo account with a few notes, once.
async fn seed(api: &Api) -> anyhow::Result<()> {
    let accounts = RepoAccounts::new(api.repo.clone(), PasswordHasher::new(1));
    match accounts.create(DEMO_EMAIL, DEMO_PASSWORD).await {
        Ok(user) => {
            let now = SystemClock.now();
            for text in [
                "Welcome to Tessera. This page was rendered by the web server, which called the API with your access token.",
                "Open the developer tools: document.cookie is empty. Your tokens live in HttpOnly cookies only.",
                "Visit Devices to see where you are signed in, and revoke a session.",
            ] {
                let body = NoteBody::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
                api.repo.create_note(user.id.as_str(), &body, now).await?;
            }
            Ok(())
        }
        Err(AccountsError::Conflict) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("seeding the demo account: {e}")),
    }
}
