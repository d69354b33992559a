# shellcheck shell=bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Shared helpers for scripts/dev-up, scripts/test and bench/run. Source it; do not run it.
# Every helper is idempotent: a second call finds the work done and returns quietly.

# Debian packages every script needs. postfix provides smtp-sink/smtp-source as well.
# shellcheck disable=SC2034 # used by the scripts that source this file
SMTPY_APT_PACKAGES=(
    postfix
    postgresql
    build-essential pkg-config ca-certificates curl iproute2
    # The `openssl` crate links the system OpenSSL (DKIM/ARC RSA signatures).
    libssl-dev
    # e2e: a local DNS server (dnsmasq), an independent DKIM/ARC verifier (dkimpy; authres for
    # its ARC signing, nacl for Ed25519 signatures) and test keys (openssl).
    dnsmasq-base python3-dkim python3-dnspython python3-authres python3-nacl openssl
    # e2e: the SRS interop test runs Debian's postsrsd against our SRS code.
    postsrsd
    # scripts/schemathesis: a venv of Debian's python3 for schemathesis (from PyPI).
    python3-venv
)

smtpy_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
smtpy_die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

smtpy_need_root() {
    [ "$(id -u)" = 0 ] || smtpy_die "run this as root (it installs packages and manages Postgres/Postfix)"
}

# Make cargo and friends findable in a non-login shell (CI runs `bash .ci/run`).
smtpy_setup_path() {
    local d
    for d in "${CARGO_HOME:-$HOME/.cargo}/bin" /usr/local/bin /usr/sbin /sbin; do
        case ":$PATH:" in *":$d:"*) ;; *) [ -d "$d" ] && PATH="$d:$PATH" ;; esac
    done
    export PATH
    # One target directory outside the clone, shared by every checkout and CI run.
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/smtpy-target}"
}

# Install the named Debian packages that are missing; does nothing (and needs no network)
# when all are present.
smtpy_apt_ensure() {
    local pkg missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    smtpy_log "installing Debian packages: ${missing[*]}"
    # "No configuration": Postfix installs without main.cf; our scripts write what they need.
    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

smtpy_require_cmd() {
    command -v "$1" >/dev/null 2>&1 || smtpy_die "$1 not found: $2"
}

# The Rust toolchain is not a Debian package here: it must come from rustup beforehand.
# Usage: smtpy_check_toolchain build|full   (full: also rustfmt, clippy and cargo-nextest)
smtpy_check_toolchain() {
    smtpy_require_cmd cargo "install Rust (https://rustup.rs) for root first"
    local need="${1:-}"
    if [ "$need" = full ]; then
        cargo fmt --version >/dev/null 2>&1 || smtpy_die "rustfmt missing: rustup component add rustfmt"
        cargo clippy --version >/dev/null 2>&1 || smtpy_die "clippy missing: rustup component add clippy"
        if ! cargo nextest --version >/dev/null 2>&1; then
            smtpy_log "installing cargo-nextest from crates.io"
            cargo install --locked cargo-nextest
        fi
    fi
}

# Start the Debian Postgres cluster (creating one if the package left none) and wait for it.
smtpy_pg_start() {
    local ver name status
    if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
        ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
        smtpy_log "creating Postgres cluster $ver/main"
        pg_createcluster "$ver" main >/dev/null
    fi
    read -r ver name _ status _ < <(pg_lsclusters -h | sort -V | tail -n1)
    if [ "$status" != online ]; then
        smtpy_log "starting Postgres cluster $ver/$name"
        pg_ctlcluster "$ver" "$name" start
    fi
    local _
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 0.5
    done
    smtpy_die "Postgres $ver/$name is not accepting connections on 127.0.0.1:5432"
}

# psql as the postgres superuser over the local socket; stops on the first error.
smtpy_psql_super() {
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Create or update a login role with the given password (so a re-run resynchronises it).
# Usage: smtpy_pg_role NAME PASSWORD [SUPERUSER|NOSUPERUSER]
smtpy_pg_role() {
    local name=$1 password=$2 super=${3:-NOSUPERUSER}
    smtpy_psql_super -d postgres -v name="$name" -v pw="$password" -v super="$super" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I LOGIN %s PASSWORD %L', :'name', :'super', :'pw') \gexec
SQL
}

# Create a database owned by ROLE unless it exists. Usage: smtpy_pg_database NAME ROLE
smtpy_pg_database() {
    local name=$1 owner=$2
    smtpy_psql_super -d postgres -v name="$name" -v owner="$owner" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \gexec
SQL
}

# True once something accepts TCP connections on HOST:PORT.
smtpy_port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Wait up to SECONDS for HOST:PORT. Usage: smtpy_wait_port HOST PORT SECONDS
smtpy_wait_port() {
    local _
    for _ in $(seq 1 $(( $3 * 10 ))); do
        smtpy_port_open "$1" "$2" && return 0
        sleep 0.1
    done
    return 1
}

# A random secret, URL- and TOML-safe.
smtpy_random_token() {
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='
}
