#!/usr/bin/env bash
# Runs herald-bench against the local services, with Alertmanager installed for
# `--peer alertmanager`: installs (apt-get) and starts what is missing, builds
# Herald and the bench in release, and passes every argument to herald-bench,
# e.g. `ops/bench.sh --via http --peer alertmanager --events 10000 --no-raw`.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/services.sh --alertmanager
cargo build --release -p herald -p herald-bench
exec target/release/herald-bench "$@"
