//! `tessera`: one binary for every role.
//!
//! | command | what it does |
//! |---|---|
//! | `tessera keygen --out FILE` | writes a new key set (Ed25519 by default) |

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
    }
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
