//! `herald`: run Herald's roles, migrate its database, emit events, and drive
//! a running Herald over its API (`cli`).
// Printing to stdout is what the CLI commands are for; services log with tracing.
#![allow(clippy::print_stdout)]

mod cli;

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use herald::{Config, Roles};
use herald_ingest::{Client, NewEvent};
use herald_model::{Category, PlainToken, Role, Severity, Span, TokenSpec};
use herald_store::{NewAudit, Store};
use tracing_subscriber::EnvFilter;

// Every delivery allocates and frees many small buffers across threads; the
// system allocator spent about a seventh of Herald's CPU time on that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "A self-hosted notification pipeline."
)]
struct Cli {
    #[command(flatten)]
    remote: cli::Remote,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every role in one process: API, router, sender and flush (the quick start).
    All,
    /// The HTTP API only.
    Api,
    /// The router only: events in, delivery jobs out.
    Router,
    /// A sender only: delivery jobs in, notifications out.
    Sender,
    /// The flush job only: replays the error table on schedule.
    Flush,
    /// Creates the database if missing and applies migrations, then exits.
    Migrate,
    /// Publishes one event straight to the broker and prints its id.
    Emit(Box<EmitArgs>),
    /// Prints a new secret key for HERALD_SECRET_KEY.
    Keygen,
    /// Re-seals every notifier's secrets under the current key (the first of
    /// HERALD_SECRET_KEYS); older keys can then be dropped.
    Rekey,
    /// API tokens, straight in the database (to make the first one).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Prints every environment variable Herald reads, as a Markdown table.
    Env,
    #[command(flatten)]
    Remote(Box<cli::ApiCommand>),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Makes a token and prints it; it is shown this once and stored hashed.
    Create {
        /// admin, publisher or viewer.
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        /// How long it works, e.g. `90d`; forever when absent.
        #[arg(long)]
        expires_in: Option<Span>,
    },
    /// Lists the tokens (never the tokens themselves).
    List,
    /// Revokes the token with this name.
    Revoke { name: String },
}

#[derive(Args)]
pub(crate) struct EmitArgs {
    /// Read the event (or an array of events) as JSON from this file, `-` for stdin.
    #[arg(long, conflicts_with_all = ["source", "category"])]
    json: Option<String>,
    #[arg(long, required_unless_present = "json")]
    source: Option<String>,
    /// system, configuration, job, deployment or spending.
    #[arg(long, required_unless_present = "json")]
    category: Option<Category>,
    #[arg(long)]
    kind: Option<String>,
    /// critical, warning or info.
    #[arg(long)]
    severity: Option<Severity>,
    #[arg(long)]
    scope: Option<String>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    message: Option<String>,
    /// A label as key=value; repeat for more.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Arbitrary JSON attached to the event.
    #[arg(long)]
    data: Option<String>,
    #[arg(long)]
    dedup_key: Option<String>,
    #[arg(long)]
    resolved: bool,
    #[arg(long)]
    url: Option<String>,
    /// Idempotency key; assigned when absent.
    #[arg(long)]
    id: Option<uuid::Uuid>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not key=value"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return cli::error::report(&anyhow::Error::new(e).context("cannot start")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::error::report(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Remote(command) = cli.command {
        return cli::run(&cli.remote, *command).await;
    }
    let config = Config::from_env().context("invalid configuration")?;
    init_logging(&config, cli.command.is_one_shot());
    let roles = match cli.command {
        Command::All => Roles::ALL,
        Command::Api => Roles {
            api: true,
            ..Roles::NONE
        },
        Command::Router => Roles {
            router: true,
            ..Roles::NONE
        },
        Command::Sender => Roles {
            sender: true,
            ..Roles::NONE
        },
        Command::Flush => Roles {
            flush: true,
            ..Roles::NONE
        },
        Command::Migrate => {
            herald_store::Store::connect(&config.database_url, 1).await?;
            println!("database ready: {}", redact(&config.database_url));
            return Ok(());
        }
        Command::Emit(args) => return emit(&config, *args).await,
        Command::Token(command) => return token(&config, command).await,
        Command::Rekey => return rekey(&config).await,
        Command::Keygen => {
            println!("{}", herald_model::SecretKey::generate_base64());
            return Ok(());
        }
        Command::Env => {
            print!("{}", herald::config::markdown_table());
            return Ok(());
        }
        Command::Remote(_) => unreachable!("API commands returned above"),
    };
    let running = herald::start(&config, roles).await?;
    let shutdown = running.shutdown_token();
    let stopped = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    // Roles bound their own work by HERALD_SHUTDOWN_TIMEOUT; this bounds the
    // process, whatever a connection does on the way out.
    let exit = async {
        stopped.cancelled().await;
        tokio::time::sleep(config.shutdown_timeout + std::time::Duration::from_secs(5)).await;
    };
    tokio::select! {
        () = running.wait() => {}
        () = exit => tracing::warn!("roles did not stop in time; exiting"),
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

impl Command {
    /// Commands that do one thing and exit: their output is their result, so
    /// they log only errors unless `HERALD_LOG` asks for more.
    fn is_one_shot(&self) -> bool {
        !matches!(
            self,
            Command::All | Command::Api | Command::Router | Command::Sender | Command::Flush
        )
    }
}

/// What one-shot commands log: errors, but not lapin's, which reports a
/// connection it is closing as an error; the queue crate's errors say what failed.
const ONE_SHOT_LOG: &str = "error,lapin=off";

fn init_logging(config: &Config, one_shot: bool) {
    let wanted = match std::env::var("HERALD_LOG") {
        Err(_) if one_shot => ONE_SHOT_LOG,
        _ => &config.log,
    };
    let filter = EnvFilter::try_new(wanted).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn redact(url: &str) -> String {
    herald_queue::redact_url(url)
}

async fn emit(config: &Config, args: EmitArgs) -> anyhow::Result<()> {
    let client = Client::connect_tls(
        &config.amqp_url,
        config.amqp_tls()?,
        &config.amqp_prefix,
        config.queue_type,
    )
    .await?;
    if let Some(path) = &args.json {
        let mut bytes = Vec::new();
        if path == "-" {
            std::io::stdin().read_to_end(&mut bytes)?;
        } else {
            bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
        }
        let events = herald_model::parse_events(&bytes, time_now())?;
        client.publish(&events).await?;
        client.close().await;
        for e in events {
            println!("{}", e.id);
        }
        return Ok(());
    }
    let event = new_event(&args)?;
    let id = client.emit(event).await?;
    client.close().await;
    println!("{id}");
    Ok(())
}

/// The event the flags of `emit` (and `events emit`) describe.
fn new_event(args: &EmitArgs) -> anyhow::Result<NewEvent> {
    let (Some(source), Some(category)) = (&args.source, args.category) else {
        bail!("--source and --category are required");
    };
    let mut event = NewEvent::new(source, category);
    for (key, value) in &args.labels {
        event = event.label(key, value);
    }
    let texts = [
        (
            args.kind.as_deref(),
            NewEvent::kind as fn(NewEvent, &str) -> NewEvent,
        ),
        (args.scope.as_deref(), NewEvent::scope),
        (args.title.as_deref(), NewEvent::title),
        (args.message.as_deref(), NewEvent::message),
        (args.dedup_key.as_deref(), NewEvent::dedup_key),
        (args.url.as_deref(), NewEvent::url),
    ];
    for (value, set) in texts {
        if let Some(value) = value {
            event = set(event, value);
        }
    }
    if let Some(severity) = args.severity {
        event = event.severity(severity);
    }
    if let Some(data) = &args.data {
        event = event.data(serde_json::from_str(data).context("--data is not JSON")?);
    }
    if let Some(id) = args.id {
        event = event.id(id);
    }
    Ok(event.resolved(args.resolved))
}

/// Who the audit trail names for changes made with this command line.
const CLI_ACTOR: &str = "herald";

async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, 1).await?;
    let (action, record, plain) = match command {
        TokenCommand::Create {
            role,
            name,
            expires_in,
        } => {
            let now = time_now();
            let spec = TokenSpec {
                name,
                role,
                expires_at: expires_in.map(|span| now + span.get()),
            };
            spec.validate(now)?;
            let plain = PlainToken::generate();
            let record = store.create_token(&spec, &plain).await?;
            ("create", record, Some(plain))
        }
        TokenCommand::List => {
            for t in store.list_tokens().await? {
                let state = match (t.revoked_at, t.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(at)) if at <= time_now() => "expired",
                    _ => "active",
                };
                println!("{}\t{}\t{}\t{}…\t{state}", t.id, t.name, t.role, t.hint);
            }
            return Ok(());
        }
        TokenCommand::Revoke { name } => {
            let Some(found) = store.live_token_named(&name).await? else {
                bail!("no token named `{name}` is active");
            };
            ("revoke", store.revoke_token(found.id).await?, None)
        }
    };
    store
        .record_audit(&NewAudit {
            actor: CLI_ACTOR,
            action,
            object: "token",
            object_id: Some(&record.id.to_string()),
            detail: serde_json::json!({"name": record.name, "role": record.role}),
        })
        .await?;
    match plain {
        Some(plain) => println!("{}", plain.expose()),
        None => println!("revoked {}", record.name),
    }
    Ok(())
}

async fn rekey(config: &Config) -> anyhow::Result<()> {
    let keyring = config.load_keyring()?;
    let store = Store::connect(&config.database_url, 1).await?;
    let mut resealed = 0;
    let notifiers = store.list_notifiers().await?;
    for notifier in &notifiers {
        let fields = herald_channels::secret_fields(&notifier.kind);
        let mut current = notifier.config.clone();
        // A notifier edited meanwhile is read again; its edit sealed it anew.
        loop {
            if keyring.is_current(&current, fields) {
                break;
            }
            let mut sealed = current.clone();
            keyring
                .seal_config(&mut sealed, fields, notifier.id)
                .with_context(|| format!("notifier `{}` ({})", notifier.name, notifier.id))?;
            if store
                .reseal_notifier(notifier.id, &current, &sealed)
                .await?
            {
                resealed += 1;
                break;
            }
            current = store.get_notifier(notifier.id).await?.config;
        }
    }
    store
        .record_audit(&NewAudit {
            actor: CLI_ACTOR,
            action: "rekey",
            object: "notifier",
            object_id: None,
            detail: serde_json::json!({"resealed": resealed, "key": keyring.current().id()}),
        })
        .await?;
    println!(
        "re-sealed {resealed} of {} notifiers under key {}",
        notifiers.len(),
        keyring.current().id()
    );
    Ok(())
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
