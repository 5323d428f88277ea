#!/usr/bin/env bash
# Checks the dependency tree against deny.toml: licenses, bans (duplicates
# warn) and sources, all without the network. Installs cargo-deny if missing.
# Advisories need the RustSec database from the network: `cargo deny check
# advisories` where CI has it (README, "Supply chain").
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "[deny] installing cargo-deny (a few minutes, once)" >&2
  cargo install cargo-deny --locked --version '~0.20' --quiet
fi
# cargo-deny reads the metadata of every package in Cargo.lock, for every
# platform, offline: fetch those a build for this one did not need.
cargo fetch --locked --quiet
cargo deny --offline --locked check --hide-inclusion-graph licenses bans sources
