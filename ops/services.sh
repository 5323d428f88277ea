#!/usr/bin/env bash
# Makes sure the services Herald needs run on loopback: PostgreSQL (trust auth
# for the postgres user on 127.0.0.1) and RabbitMQ; with --smtp, also a Python
# that has aiosmtpd for the test SMTP server (printed as `HERALD_TEST_PYTHON=...`
# last); with --irc, also ngircd for the IRC channel's tests (installed only:
# each test starts its own, printed as `HERALD_TEST_NGIRCD=...`); with
# --alertmanager, also Prometheus Alertmanager's binary for herald-bench's
# comparison and the tests of Herald's Alertmanager receiver (installed only:
# each starts its own, printed as `HERALD_TEST_ALERTMANAGER=...`); with --promtool, also
# Prometheus's promtool for the tests of ops/prometheus/ (printed as
# `HERALD_TEST_PROMTOOL=...`); with --schemathesis,
# also schemathesis (PyPI) in a virtualenv under target/ for the API's
# property-based test (printed as `HERALD_TEST_SCHEMATHESIS=...`); with
# --browser, also Chromium and its WebDriver for the admin page's browser tests (installed
# only: each test starts its own chromedriver, printed as
# `HERALD_TEST_CHROMEDRIVER=...` and `HERALD_TEST_CHROMIUM=...`). Installs what is
# missing with apt-get (or pip) and starts what is stopped.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }
want_smtp=false
want_alertmanager=false
want_irc=false
want_promtool=false
want_schemathesis=false
want_browser=false
for flag in "$@"; do
  case "$flag" in
    --smtp) want_smtp=true ;;
    --alertmanager) want_alertmanager=true ;;
    --irc) want_irc=true ;;
    --promtool) want_promtool=true ;;
    --schemathesis) want_schemathesis=true ;;
    --browser) want_browser=true ;;
    *) log "unknown flag $flag (known: --smtp, --irc, --alertmanager, --promtool, --schemathesis, --browser)"; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# PostgreSQL
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
pg_isready -h 127.0.0.1 -p 5432 -q || { log "PostgreSQL did not start"; exit 1; }
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  # A fresh Debian cluster asks for passwords on TCP; Herald's defaults use trust on loopback.
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  log "allowing trust auth for 127.0.0.1 and ::1 in $hba"
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null
fi

# TLS on PostgreSQL, for the tests of `sslmode=require`: Debian's cluster has
# it on with the ssl-cert package's self-signed "snakeoil" certificate; one
# without it gets that certificate and a reload (a restart if the postgres user
# first had to join the ssl-cert group, which only a new process sees).
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SHOW ssl')" != on ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ ! -s /etc/ssl/private/ssl-cert-snakeoil.key ]; then
    command -v make-ssl-cert >/dev/null 2>&1 || apt_install ssl-cert
    as_root make-ssl-cert generate-default-snakeoil
  fi
  log "turning on TLS in PostgreSQL $version (the snakeoil certificate)"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "ALTER SYSTEM SET ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem'" \
    -c "ALTER SYSTEM SET ssl_key_file = '/etc/ssl/private/ssl-cert-snakeoil.key'" -c "ALTER SYSTEM SET ssl = on" >/dev/null
  if id -nG postgres | grep -qw ssl-cert; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  else
    as_root usermod -a -G ssl-cert postgres
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart
  fi
  # A reload is taken in asynchronously: ask again for a while.
  for _ in $(seq 1 60); do
    [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SHOW ssl' 2>/dev/null)" = on ] && break
    sleep 0.5
  done
  [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SHOW ssl')" = on ] ||
    { log "PostgreSQL did not turn TLS on (see its log)"; exit 1; }
fi

# RabbitMQ
if ! as_root rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  log "starting RabbitMQ"
  # On a small host RabbitMQ shares its CPUs with Herald and PostgreSQL; Erlang
  # schedulers that busy-wait before sleeping take cycles the others need.
  as_root env RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none" \
    rabbitmq-server -detached
fi
as_root rabbitmqctl -q await_startup --timeout 120 >/dev/null

# A Python with aiosmtpd, for the tests' real SMTP server.
if $want_smtp; then
  python=""
  for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import aiosmtpd' 2>/dev/null; then
      python=$(command -v "$candidate"); break
    fi
  done
  if [ -z "$python" ] && command -v python3 >/dev/null 2>&1; then
    log "installing aiosmtpd with pip"
    python3 -m pip install --quiet --disable-pip-version-check aiosmtpd >/dev/null 2>&1 \
      && python3 -c 'import aiosmtpd' 2>/dev/null && python=$(command -v python3)
  fi
  if [ -z "$python" ]; then
    apt_install python3-aiosmtpd
    python=/usr/bin/python3
  fi
  echo "HERALD_TEST_PYTHON=$python"
fi

# ngircd, a real IRC server for the IRC channel's tests. The package starts
# its own daemon on :6667; the tests do not use it (each starts one on free
# ports), so it is stopped.
if $want_irc; then
  if [ ! -x /usr/sbin/ngircd ]; then
    apt_install ngircd
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet ngircd 2>/dev/null; then
      as_root systemctl stop ngircd
    elif [ -x /etc/init.d/ngircd ]; then
      as_root /etc/init.d/ngircd stop >/dev/null 2>&1 || true
    fi
  fi
  echo "HERALD_TEST_NGIRCD=/usr/sbin/ngircd"
fi

# Chromium driven through chromedriver (WebDriver), for the admin page's
# tests in a real headless browser.
if $want_browser; then
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt_install chromium chromium-driver
  fi
  echo "HERALD_TEST_CHROMEDRIVER=/usr/bin/chromedriver"
  echo "HERALD_TEST_CHROMIUM=/usr/bin/chromium"
fi

# Alertmanager, for herald-bench --peer alertmanager and the receiver's tests.
# Debian names the binary prometheus-alertmanager; the package's own service is
# not wanted (each runs its own on a free port), so stop it if the install started it on :9093.
if $want_alertmanager; then
  if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
    apt_install prometheus-alertmanager
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus-alertmanager 2>/dev/null; then
      log "stopping the prometheus-alertmanager service the package started"
      as_root systemctl stop prometheus-alertmanager
    elif [ -s /run/prometheus/prometheus-alertmanager.pid ]; then
      log "stopping the prometheus-alertmanager daemon the package started"
      as_root /etc/init.d/prometheus-alertmanager stop
    fi
  fi
  log "Alertmanager $(prometheus-alertmanager --version 2>&1 | head -n 1)"
  echo "HERALD_TEST_ALERTMANAGER=$(command -v prometheus-alertmanager)"
fi
# promtool, for `promtool check rules` and `promtool test rules` on Herald's
# alert rules. Debian ships it in the prometheus package, whose own server is
# not wanted: stop it if the install started it on :9090.
if $want_promtool; then
  if ! command -v promtool >/dev/null 2>&1; then
    apt_install --no-install-recommends prometheus
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
      log "stopping the prometheus service the package started"
      as_root systemctl stop prometheus
    elif [ -s /run/prometheus/prometheus.pid ]; then
      log "stopping the prometheus daemon the package started"
      as_root /etc/init.d/prometheus stop
    fi
  fi
  echo "HERALD_TEST_PROMTOOL=$(command -v promtool)"
fi
# schemathesis, for the API's property-based test (tests/e2e/openapi.rs). A
# pinned version in its own virtualenv, kept under target/ so that it is
# cached with the build and gone with `cargo clean`.
if $want_schemathesis; then
  schemathesis_version=4.32.5
  venv="$(cd "$(dirname "$0")/.." && pwd)/target/schemathesis"
  if [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version $schemathesis_version" ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3
    python3 -m venv "$venv" >/dev/null 2>&1 || { apt_install python3-venv; python3 -m venv "$venv"; }
    log "installing schemathesis $schemathesis_version in $venv"
    # PyPI is the one registry fetched from here on every new machine; a
    # passing network hiccup gets two more tries before the run stops.
    for attempt in 1 2 3; do
      "$venv/bin/pip" install --quiet --disable-pip-version-check --retries 10 --timeout 60 \
        "schemathesis==$schemathesis_version" >&2 && break
      [ "$attempt" = 3 ] && { log "pip could not install schemathesis $schemathesis_version"; exit 1; }
      log "pip failed (try $attempt of 3); trying again"
    done
  fi
  echo "HERALD_TEST_SCHEMATHESIS=$venv/bin/st"
fi

log "PostgreSQL and RabbitMQ are up"
