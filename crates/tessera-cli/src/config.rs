//! Configuration layering for the servers: built-in defaults, then an optional TOML file
//! (`--config`), then environment variables (`TESSERA_<NAME>`), then flags.
//!
//! clap reads flags and environment variables into `Option` fields; only the values actually
//! given are layered over the TOML file with figment, so a file never overrides a flag.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use figment::Figment;
use figment::providers::{Format as _, Serialized, Toml};
use serde::{Serialize, de::DeserializeOwned};

/// Loads settings of type `T`: defaults < TOML file < given flags/env (`cli`).
pub(crate) fn layered<T, C>(file: Option<&PathBuf>, cli: &C) -> anyhow::Result<T>
where
    T: DeserializeOwned + Serialize + Default,
    C: Serialize,
{
    let mut fig = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            bail!("config file {} does not exist", path.display());
        }
        fig = fig.merge(Toml::file_exact(path));
    }
    fig = fig.merge(Serialized::defaults(cli));
    fig.extract().context("invalid configuration")
}

/// Parses a duration written like `15m`, `10s`, `7d` or `1h 30m`.
pub(crate) fn duration(name: &str, text: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(text.trim())
        .with_context(|| format!("{name}: {text:?} is not a duration like 15m, 10s or 7d"))
}

/// The TLS files of `--tls-cert` and `--tls-key`, which go together.
pub(crate) fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<Option<tessera_axum::server::TlsFiles>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(tessera_axum::server::TlsFiles { cert, key })),
        (None, None) => Ok(None),
        _ => bail!("--tls-cert and --tls-key go together"),
    }
}
