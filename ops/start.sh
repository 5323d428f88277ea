#!/usr/bin/env bash
# Starts Herald with every role (API on http://127.0.0.1:8080) against the local
# RabbitMQ and PostgreSQL, installing and starting them if needed. Notifiers may
# reach loopback (local test endpoints, a local mail relay) unless
# HERALD_OUTBOUND_ALLOW says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/services.sh
export HERALD_OUTBOUND_ALLOW="${HERALD_OUTBOUND_ALLOW-127.0.0.1,::1}"
exec cargo run --release --locked -p herald -- all
