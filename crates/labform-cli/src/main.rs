//! The `labform` command: argument parsing and dispatch to one module per subcommand.
//!
//! Exit codes: 0 success, 1 the lab has errors, 2 usage errors (from clap) and, for `drift`,
//! drift found; 3 an operational failure (a file could not be written, ...).

mod commands;
mod lab_input;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// labform: one declarative lab file to a running homelab on Proxmox VE.
#[derive(Debug, Parser)]
#[command(name = "labform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a lab file and report every problem with its file, line, column and field.
    Validate(commands::validate::Args),
    /// Show what labform would build for a lab file, without touching any infrastructure.
    Plan(commands::plan::Args),
    /// Print the JSON Schema of the lab file (for editors and outside validators).
    Schema(commands::schema::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Schema(args) => commands::schema::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(3)
        }
    }
}
