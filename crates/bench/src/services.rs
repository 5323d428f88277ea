//! Stopping and starting the local RabbitMQ and PostgreSQL, for fault
//! injection. Needs the rights `ops/services.sh` has (root on a test machine).

use anyhow::{Context, bail};
use tokio::process::Command;

async fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("{program} {args:?} failed with {status}");
    }
    Ok(())
}

pub async fn rabbitmq_stop() -> anyhow::Result<()> {
    run("rabbitmqctl", &["-q", "stop_app"]).await
}

pub async fn rabbitmq_start() -> anyhow::Result<()> {
    run("rabbitmqctl", &["-q", "start_app"]).await?;
    run("rabbitmqctl", &["-q", "await_startup"]).await
}

fn postgres_cluster() -> anyhow::Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .context("PostgreSQL clusters are expected under /etc/postgresql")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    versions.sort();
    versions.pop().context("no PostgreSQL cluster found")
}

pub async fn postgres_stop() -> anyhow::Result<()> {
    let version = postgres_cluster()?;
    run(
        "pg_ctlcluster",
        &[
            "--skip-systemctl-redirect",
            &version,
            "main",
            "stop",
            "-m",
            "fast",
        ],
    )
    .await
}

pub async fn postgres_start() -> anyhow::Result<()> {
    let version = postgres_cluster()?;
    run(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &version, "main", "start"],
    )
    .await
}
