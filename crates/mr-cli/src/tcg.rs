//! `mr tcg ...` subcommands.

use clap::Subcommand;

use crate::common::{CmdResult, Failure};

/// `mr tcg` subcommands.
#[derive(Subcommand)]
pub enum TcgCommand {
    /// Replay a log (not implemented yet).
    Replay,
}

/// Run an `mr tcg` subcommand.
pub fn run(command: TcgCommand) -> CmdResult {
    match command {
        TcgCommand::Replay => Err(Failure::Malformed("not implemented yet".into())),
    }
}
