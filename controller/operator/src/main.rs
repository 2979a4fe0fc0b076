//! `orgops`: the operator (`orgops run`) and its tooling.
#![forbid(unsafe_code)]
#![deny(warnings)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;

mod crdgen;

#[derive(Parser)]
#[command(name = "orgops", version, about = "AWS multi-account governance as GitOps")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the CustomResourceDefinitions as YAML, one file per kind.
    Crdgen {
        /// Directory to write into.
        #[arg(long, default_value = "crds")]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crdgen { out } => crdgen::write_all(&out),
    }
}
