//! `mr ima ...` subcommands.

use clap::Subcommand;

use crate::common::{CmdResult, Failure};

/// `mr ima` subcommands.
#[derive(Subcommand)]
pub enum ImaCommand {
    /// Replay a log (not implemented yet).
    Replay,
}

/// Run an `mr ima` subcommand.
pub fn run(command: ImaCommand) -> CmdResult {
    match command {
        ImaCommand::Replay => Err(Failure::Malformed("not implemented yet".into())),
    }
}
