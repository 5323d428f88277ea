#!/usr/bin/env bash
# Refreshes the admin page's screenshots in docs/screenshots/: runs the
# browser scenario (a real headless Chromium, installed by ops/services.sh
# --browser) with HERALD_SCREENSHOTS set, which saves a PNG of each page.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(ops/services.sh --browser | grep '^HERALD_TEST_' | sed 's/^/export /')"
export HERALD_SCREENSHOTS="$PWD/docs/screenshots"
mkdir -p "$HERALD_SCREENSHOTS"
cargo test -p herald --test e2e --locked web::an_operator_configures_tests_watches_and_replays_from_the_browser
ls -1 "$HERALD_SCREENSHOTS"
