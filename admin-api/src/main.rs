//! `smtpy-admin`: the HTTP API server and the sysadmin command line.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = smtpy_admin::cli::Cli::parse();
    match smtpy_admin::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
