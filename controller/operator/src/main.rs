//! `orgops`: the operator (`orgops run`) and its tooling.
#![forbid(unsafe_code)]
#![deny(warnings)]

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use cli::{import, inventory, plan, validate};

mod aws;
mod cli;
mod crdgen;
mod docgen;
mod feed;
mod http;
mod kinds;
mod kube_side;
mod leader;
mod metrics;
mod policy;
mod reconcile;
mod run;
mod telemetry;

#[derive(Parser)]
#[command(name = "orgops", version, about = "AWS multi-account governance as GitOps")]
struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "ORGOPS_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster).
    Run(Box<run::args::RunArgs>),
    /// Print the CloudFormation template a SecurityBaseline (a YAML file) rolls out.
    Template {
        /// The SecurityBaseline's YAML file.
        file: PathBuf,
    },
    /// Check YAML files offline, as the cluster and the controller will: the CRDs' schema
    /// and CEL rules, the platform policy, references between files, duplicates.
    Validate(validate::ValidateArgs),
    /// List the accounts (id, name, email, OU path, state, owning namespace) from the
    /// cluster, or from AWS with --from-aws.
    Inventory(inventory::InventoryArgs),
    /// What the controller would do to AWS for a folder of objects (a pull request):
    /// creations, changes field by field, deletions against --base, drift today. Makes
    /// read calls only.
    Plan(Box<plan::PlanArgs>),
    /// Write the objects that adopt an existing organization, one folder per team, from
    /// what it holds today: accounts, permission sets and their assignments, delegated
    /// subdomains. Makes read calls only; applied, the objects change nothing in AWS.
    Import(Box<import::ImportArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the reference tables of the docs (flags, metrics) as Markdown.
    Docgen {
        /// Directory to write into.
        #[arg(long, default_value = "docs/reference")]
        out: PathBuf,
    },
    /// Write the CustomResourceDefinitions as YAML, one file per kind.
    Crdgen {
        /// Directory to write into.
        #[arg(long, default_value = "crds")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crdgen { out } => crdgen::write_all(&out),
        Command::Docgen { out } => docgen::write_all(&out, &Cli::command()),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "orgops", &mut std::io::stdout());
            Ok(())
        }
        Command::Template { file } => kinds::baseline::print_template(&file),
        Command::Validate(args) => match validate::run(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
        Command::Plan(args) => {
            tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(plan::run(&args)))
        }
        Command::Import(args) => match tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(import::run(&args)))
        {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(error) => Err(error),
        },
        Command::Inventory(args) => tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(inventory::run(&args))),
        Command::Run(args) => {
            telemetry::init(cli.log_format);
            tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(run::run(*args)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
