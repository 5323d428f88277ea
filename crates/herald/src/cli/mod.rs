//! The commands that drive a running Herald over its HTTP API (`HERALD_URL`,
//! `HERALD_TOKEN`): notifiers, rules, events, failures, silences, monitors,
//! tokens, and configuration as code (`apply`, `export`).
//!
//! They never open the database or the broker: what the API refuses, they
//! refuse, with its message. The process's other commands (roles, `emit`,
//! `token`, `migrate`) live in `main.rs`.

pub mod apply;
pub mod client;
pub mod error;
pub mod output;
mod resources;

use clap::{Args, Subcommand};

pub use client::Api;
pub use output::Output;
pub use resources::{
    EventsCommand, FailuresCommand, MonitorsCommand, NotifiersCommand, RulesCommand,
    SilencesCommand, TokensCommand,
};

/// Where the API is and who calls it; every API command takes these.
#[derive(Args, Clone)]
pub struct Remote {
    /// The API's address.
    #[arg(
        long,
        global = true,
        env = "HERALD_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API token (`herald token create`, or `POST /api/v1/tokens`).
    #[arg(long, global = true, env = "HERALD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// `table` for people, `json` for scripts (the API's answer, unchanged).
    #[arg(long, short = 'o', global = true, value_enum, default_value = "table")]
    pub output: Output,
}

/// The API commands.
#[derive(Subcommand)]
pub enum ApiCommand {
    /// Notifiers: configured channels.
    #[command(subcommand)]
    Notifiers(NotifiersCommand),
    /// Rules: which events go to which notifiers.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Events: publish through the API, list, explain.
    #[command(subcommand)]
    Events(EventsCommand),
    /// The error table: list, replay, discard.
    #[command(subcommand)]
    Failures(FailuresCommand),
    /// Silences: hold back matching events for a while.
    #[command(subcommand)]
    Silences(SilencesCommand),
    /// No-activity monitors.
    #[command(subcommand)]
    Monitors(MonitorsCommand),
    /// API tokens, through the API (admins only).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Makes the configuration what a YAML file declares.
    Apply(apply::ApplyArgs),
    /// Writes the configuration as a YAML file `apply` reads.
    Export(apply::ExportArgs),
}

/// Runs one API command.
pub async fn run(remote: &Remote, command: ApiCommand) -> anyhow::Result<()> {
    let api = Api::new(&remote.url, remote.token.clone())?;
    let out = remote.output;
    match command {
        ApiCommand::Notifiers(c) => resources::notifiers(&api, out, c).await,
        ApiCommand::Rules(c) => resources::rules(&api, out, c).await,
        ApiCommand::Events(c) => resources::events(&api, out, c).await,
        ApiCommand::Failures(c) => resources::failures(&api, out, c).await,
        ApiCommand::Silences(c) => resources::silences(&api, out, c).await,
        ApiCommand::Monitors(c) => resources::monitors(&api, out, c).await,
        ApiCommand::Tokens(c) => resources::tokens(&api, out, c).await,
        ApiCommand::Apply(args) => apply::apply(&api, out, args).await,
        ApiCommand::Export(args) => apply::export(&api, args).await,
    }
}
