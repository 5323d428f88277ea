#!/usr/bin/env bash
# Runs Herald's whole test suite against real services on loopback. Installs
# (apt-get) and starts PostgreSQL, RabbitMQ, an SMTP server and an IRC server
# (ngircd), Chromium with chromedriver for the admin page's browser tests,
# promtool for the alert rules' tests, and schemathesis (pip, in target/) for
# the API's property-based test, and Prometheus Alertmanager for its receiver's
# tests, as needed, and checks the dependencies against deny.toml first.
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Captured first: inside `eval "$(...)"` a failure of services.sh would be
# lost, and the tests would run without a service and fail far from the cause.
services=$(ops/services.sh --smtp --irc --promtool --schemathesis --browser --alertmanager) ||
  { echo "ops/test.sh: ops/services.sh failed (its [services] lines above say where)" >&2; exit 1; }
eval "$(printf '%s\n' "$services" | grep '^HERALD_TEST_' | sed 's/^/export /')"

drop_test_databases() {
  psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'herald\_test\_%'" |
    while read -r db; do
      psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
    done
}
drop_test_databases
trap drop_test_databases EXIT

ops/deny.sh
cargo test --workspace --locked "$@"
