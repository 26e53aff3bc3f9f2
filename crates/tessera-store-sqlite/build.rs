//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the files of
//! `migrations/`, but cargo only sees changes to files it already knows about.
#![allow(clippy::print_stdout)] // build scripts talk to cargo on stdout

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
