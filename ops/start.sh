#!/usr/bin/env bash
# Starts Herald with every role (API on http://127.0.0.1:8080) against the local
# RabbitMQ and PostgreSQL, installing and starting them if needed. Notifiers may
# reach loopback (local test endpoints, a local mail relay) unless
# HERALD_OUTBOUND_ALLOW says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ops/services.sh
export HERALD_OUTBOUND_ALLOW="${HERALD_OUTBOUND_ALLOW-127.0.0.1,::1}"
cargo build --release --locked -p herald
herald=target/release/herald
# Herald never makes a key itself (one made silently is lost with its
# container, and every secret with it): a local install keeps one here.
key_file="${HERALD_SECRET_KEY_FILE:-herald-secret.key}"
if [ -z "${HERALD_SECRET_KEY:-}${HERALD_SECRET_KEYS:-}" ] && [ ! -f "$key_file" ]; then
  (umask 077 && "$herald" keygen >"$key_file")
  echo "created $key_file: every notifier secret is sealed with it; keep it safe" >&2
fi
export HERALD_SECRET_KEY_FILE="$key_file"
# The first admin token, for curl and the command line.
token_file=herald-admin.token
if [ ! -f "$token_file" ]; then
  (umask 077 && "$herald" token create --role admin --name local-admin >"$token_file")
  echo "created $token_file: send it as 'Authorization: Bearer \$(cat $token_file)'" >&2
fi
exec "$herald" all
