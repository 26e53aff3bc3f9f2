//! `tessera conformance`: runs the public attack suite against a deployment, over HTTP only,
//! prints one row per case and exits non-zero if any case fails.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use tessera_conformance::{Credentials, Options, Resolve, TargetConfig};

/// Flags of `tessera conformance`.
#[derive(Debug, Args)]
pub(crate) struct ConformanceArgs {
    /// The API's base URL, e.g. https://api.example.com.
    #[arg(long)]
    api: String,
    /// The web server's base URL, e.g. https://app.example.com (its origin must be the web server's public origin).
    #[arg(long)]
    web: String,
    /// Main account's email [default: a fresh account is signed up].
    #[arg(long, requires = "password")]
    email: Option<String>,
    /// Main account's password.
    #[arg(
        long,
        requires = "email",
        env = "TESSERA_CONFORMANCE_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// A CA certificate bundle (PEM) to trust in addition to the system roots.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Connect to ADDR for HOST:PORT, as curl's --resolve (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<String>,
    /// The web server's public origin, when it differs from --web's (a test stack reached
    /// through a port mapping).
    #[arg(long, value_name = "ORIGIN")]
    web_origin: Option<String>,
    /// Allow http:// URLs (a local test stack); cookies must still be Secure.
    #[arg(long)]
    insecure_http: bool,
    /// The API's refresh grace window; the reuse case waits slightly longer.
    #[arg(long, default_value = "10s")]
    grace: String,
    /// The API's limit of failed logins per account.
    #[arg(long, default_value_t = 10)]
    throttle_limit: u32,
    /// Logins of each kind timed by the enumeration case.
    #[arg(long, default_value_t = 15)]
    timing_tries: usize,
    /// Largest difference between the two median login times, in percent.
    #[arg(long, default_value_t = 25.0)]
    timing_threshold: f64,
    /// Timeout of each request.
    #[arg(long, default_value = "30s")]
    request_timeout: String,
    /// Run only the cases whose id starts with this (repeatable), e.g. tokens or csrf.notes.
    #[arg(long, value_name = "PREFIX")]
    only: Vec<String>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    let mut target = TargetConfig::new(args.api, args.web);
    if let Some(path) = &args.ca {
        target.ca_pem =
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    target.resolve = args
        .resolve
        .iter()
        .map(|r| r.parse::<Resolve>())
        .collect::<Result<_, _>>()?;
    target.insecure_http = args.insecure_http;
    target.web_origin = args.web_origin;
    target.request_timeout = crate::config::duration("request-timeout", &args.request_timeout)?;
    let mut options = Options::new(target);
    options.credentials = match (args.email, args.password) {
        (Some(email), Some(password)) => Some(Credentials { email, password }),
        (None, None) => None,
        _ => bail!("--email and --password go together"),
    };
    options.grace = crate::config::duration("grace", &args.grace)?;
    options.throttle_limit = args.throttle_limit;
    options.timing_tries = args.timing_tries;
    options.timing_threshold = args.timing_threshold / 100.0;
    options.only = args.only;

    let report = tessera_conformance::run(&options).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?;
    } else {
        write!(out, "{}", report.to_table())?;
    }
    drop(out);
    let failed = report.failures().count();
    if failed > 0 {
        bail!("{failed} of {} conformance cases failed", report.rows.len());
    }
    Ok(())
}
