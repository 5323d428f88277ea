#!/usr/bin/env bash
# Starts Herald with every role (API on http://127.0.0.1:8080) against the local
# RabbitMQ and PostgreSQL, installing and starting them if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/services.sh
exec cargo run --release --locked -p herald -- all
