//! `zkcredits`: the one binary of the project. Subcommands live in [`commands`]; errors are
//! reported with `eyre` and exit code 1.

mod commands;

use clap::Parser;

/// ZK API usage credits: deposit once, pay for API calls with zero-knowledge proofs.
#[derive(Debug, Parser)]
#[command(name = "zkcredits", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = cli.command.run() {
        eprintln!("Error: {err:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn test_vectors_requires_exactly_one_mode() {
        assert!(Cli::try_parse_from(["zkcredits", "test-vectors"]).is_err());
        assert!(Cli::try_parse_from(["zkcredits", "test-vectors", "--write", "--check"]).is_err());
        assert!(Cli::try_parse_from(["zkcredits", "test-vectors", "--check"]).is_ok());
    }
}
