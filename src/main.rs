//! The `gatehouse` binary: parse the command line, read `.env`, run the command (src/cli/),
//! and turn its outcome into an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::args::Cli::parse();
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => {
            eprintln!("error: cannot read .env: {e}");
            return ExitCode::FAILURE;
        }
    }
    match cli::run(cli).await {
        Ok(code) => code,
        // The reader of standard output stopped early (`| head`): a normal, quiet end.
        Err(_) if cli::output::closed() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
