//! `tessera`: one binary for every role.
//!
//! | command | what it does |
//! |---|---|
//! | `tessera keygen --out FILE` | writes a new key set (Ed25519 by default) |
//! | `tessera api` | runs the API server |
//! | `tessera web` | runs the web server |
//! | `tessera demo` | runs both on embedded defaults, with a demo user |
//! | `tessera conformance` | runs the attack suite against a deployment, over HTTP |

mod api;
mod config;

/// mimalloc: the servers allocate many small, short-lived buffers per request, which glibc's
/// allocator serves markedly slower under load (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
mod conformance;
mod demo;
mod web;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tessera_core::{KeyAlgorithm, KeySet};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Session authentication for split web stacks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new key set: one active signing key with a random `kid`, and a refresh rotation key.
    Keygen {
        /// Where to write the key file (created with mode 0600; an existing file is not overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Signing algorithm: EdDSA (default), ES256, HS256, HS384 or HS512.
        #[arg(long, default_value = "EdDSA")]
        alg: KeyAlgorithm,
    },
    /// Run the API server: accounts, auth routes, devices, JWKS and the notes resource.
    Api(Box<api::ApiArgs>),
    /// Run the web server: token relay, server-rendered pages, silent refresh, its own CSRF.
    Web(Box<web::WebArgs>),
    /// Run the API (http://localhost:4000) and the web server (http://localhost:3000) on embedded defaults.
    Demo(demo::DemoArgs),
    /// Run the attack suite against a deployment (API and web server), over HTTP only; exits non-zero on any failure.
    Conformance(Box<conformance::ConformanceArgs>),
}

/// `--log-format`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
    PartialEq,
    Eq,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the tracing subscriber. `RUST_LOG` overrides the default level.
pub(crate) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tessera: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen { out, alg } => keygen(&out, alg),
        Command::Api(args) => runtime()?.block_on(api::run(*args)),
        Command::Web(args) => runtime()?.block_on(web::run(*args)),
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::Conformance(args) => runtime()?.block_on(conformance::run(*args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn keygen(out: &std::path::Path, alg: KeyAlgorithm) -> anyhow::Result<()> {
    let set = KeySet::generate(alg)?;
    let json = set.to_json()?;
    write_private_file(out, json.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    let _ = writeln!(
        std::io::stderr(),
        "wrote a new {alg} key set (kid {}) to {}",
        set.active().kid(),
        out.display()
    );
    Ok(())
}

/// Reads a secret file, or creates it (mode 0600, parent folders too) with `make`'s value.
pub(crate) fn read_or_create_secret(
    path: &std::path::Path,
    make: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let value = make()?;
            write_private_file(path, value.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(value)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

/// Creates `path` readable by its owner only; refuses to overwrite.
fn write_private_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
