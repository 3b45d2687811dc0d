# shellcheck shell=bash
# Sourced by scripts/test and scripts/run: make sure PostgreSQL and Redis are
# installed (from Debian's packages), running, and answering; and that the tools the
# tests use (Chromium, qpdf, poppler-utils, PDFBox) are there. Idempotent.

log() { printf '[pgo] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

apt_updated=
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    as_root apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1 || apt_install postgresql
  local ver
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
    log "starting PostgreSQL $ver"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || as_root pg_ctlcluster "$ver" main start
  fi
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.5
  done
  pg_isready -q -h 127.0.0.1 -p 5432 || { log "PostgreSQL does not answer on 127.0.0.1:5432"; return 1; }
  # A stock Debian cluster asks TCP clients for a password: give the postgres role
  # the one our URLs carry (harmless where trust auth is configured).
  (cd / && as_root su postgres -c "psql -q -c \"alter role postgres password 'postgres'\"") >/dev/null
}

ensure_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    # Started directly rather than through the init script: the job queue needs
    # no snapshots here, and a snapshot that cannot be written (a data directory
    # owned by another user) would make Redis refuse every write (MISCONF).
    log "starting Redis"
    local dir=/var/lib/redis
    [ -d "$dir" ] && [ -w "$dir" ] || dir=$(mktemp -d)
    as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir "$dir" --logfile "$dir/pgo-redis.log"
  fi
  for _ in $(seq 1 40); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  log "Redis does not answer on 127.0.0.1:6379"
  return 1
}

ensure_test_tools() {
  apt_install chromium qpdf poppler-utils libpdfbox2-java default-jre-headless \
    libactivation-java libjaxb-api-java postgresql-client redis-tools
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  # axe-core for the accessibility checks in the browser tests, pinned, installed
  # once from npm before the tests start (tests never download anything).
  local axe_dir="${XDG_CACHE_HOME:-$HOME/.cache}/pgo-axe-4.14.1"
  if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
    log "installing axe-core 4.14.1 from npm"
    npm install --silent --no-save --no-audit --no-fund --prefix "$axe_dir" axe-core@4.14.1 >/dev/null
  fi
  export PGO_AXE_JS="$axe_dir/node_modules/axe-core/axe.min.js"
  # openid-client (with undici for its mutual-TLS fetch) for the interop test of
  # the authorization server (server/oauth_interop_test.go), pinned likewise.
  local oidc_dir="${XDG_CACHE_HOME:-$HOME/.cache}/pgo-openid-client-6.8.9"
  if [ ! -f "$oidc_dir/node_modules/openid-client/package.json" ] || [ ! -f "$oidc_dir/node_modules/undici/package.json" ]; then
    log "installing openid-client 6.8.9 and undici 7.30.2 from npm"
    npm install --silent --no-save --no-audit --no-fund --prefix "$oidc_dir" openid-client@6.8.9 undici@7.30.2 >/dev/null
  fi
  export PGO_OPENID_CLIENT_DIR="$oidc_dir"
}

export PGO_DATABASE_URL="${PGO_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export PGO_TEST_DATABASE_URL="${PGO_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export PGO_TEST_REDIS_URL="${PGO_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
