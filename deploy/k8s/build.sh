#!/usr/bin/env bash
# Build (and smoke-test) the single-user image of deploy/k8s/Dockerfile.
#
#   deploy/k8s/build.sh [--tag ttfs-lab-singleuser:0.1.0] [--wheels DIR] [--debian-base]
#
#   --wheels DIR   take torch's CPU wheel from DIR (served to the build on 127.0.0.1 while it
#                  runs) instead of download.pytorch.org -- for machines that reach PyPI only
#   --host-ca      let pip in the build trust this machine's CA bundle (/etc/ssl/certs), for
#                  networks behind a TLS-intercepting proxy (served on 127.0.0.1 with the wheels)
#   --debian-base  if debian:bookworm-slim cannot be pulled (no Docker Hub), make it locally
#                  with debootstrap from the Debian mirror and `docker import` it under that tag
#
# Then it starts the image once with Voila on the playground and checks that the page renders
# (the kernels, torch and the dashboards work inside the image), and prints the image size.
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=ttfs-lab-singleuser:0.1.0 WHEELS= DEBIAN_BASE=0 HOST_CA=0
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) TAG=$2; shift 2;;
        --wheels) WHEELS=$(cd "$2" && pwd); shift 2;;
        --debian-base) DEBIAN_BASE=1; shift;;
        --host-ca) HOST_CA=1; shift;;
        *) echo "unknown option $1 (see the header of $0)"; exit 2;;
    esac
done
BASE=debian:bookworm-slim
if ! docker image inspect "$BASE" >/dev/null 2>&1 && ! docker pull "$BASE"; then
    [ "$DEBIAN_BASE" = 1 ] || { echo "cannot pull $BASE: pass --debian-base to build it with debootstrap"; exit 1; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import - "$BASE"
fi

args=()
if [ -n "$WHEELS" ] || [ "$HOST_CA" = 1 ]; then
    # One throw-away folder served on loopback to the build: the wheels, the CA bundle.
    serve=$(mktemp -d)
    [ -z "$WHEELS" ] || ln -s "$WHEELS" "$serve/wheels"
    [ "$HOST_CA" = 0 ] || cp /etc/ssl/certs/ca-certificates.crt "$serve/ca.pem"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$serve" >/dev/null 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null; rm -rf "$serve" "${root:-/nonexistent}"' EXIT
    args+=(--network host)
    [ -z "$WHEELS" ] || args+=(--build-arg "PIP_FIND_LINKS=http://127.0.0.1:$port/wheels/" --build-arg PIP_EXTRA_INDEX_URL=)
    [ "$HOST_CA" = 0 ] || args+=(--build-arg "PIP_CERT_URL=http://127.0.0.1:$port/ca.pem")
fi
docker build "${args[@]}" -f deploy/k8s/Dockerfile -t "$TAG" .

# Smoke test: Voila inside the image renders the playground (executes its cells in a kernel).
name=ttfs-smoke-$$
docker run -d --rm --name "$name" --network host "$TAG" \
    voila --Voila.config_file_paths=/opt/ttfs-lab/apps /opt/ttfs-lab/apps --no-browser --port=18866 \
    --Voila.ip=127.0.0.1 >/dev/null
trap 'docker rm -f '"$name"' >/dev/null 2>&1; kill ${server:-0} 2>/dev/null; rm -rf "${serve:-/nonexistent}" "${root:-/nonexistent}"' EXIT
for _ in $(seq 120); do
    curl -sf -o /dev/null http://127.0.0.1:18866/ && break
    sleep 1
done
page=$(curl -sf --max-time 300 http://127.0.0.1:18866/voila/render/playground.ipynb)
# The heading comes from the notebook; the widget view only if its kernel ran the dashboard code.
for expect in "Yin-Yang playground" "application/vnd.jupyter.widget-view+json" "Dashboard(children="; do
    echo "$page" | grep -qF "$expect" || { echo "smoke test: no '$expect' in the page"; docker logs "$name" | tail -30; exit 1; }
done
echo "smoke test: the playground rendered inside $TAG, its kernel built the dashboard widget ($(echo "$page" | wc -c) bytes of HTML)"
docker image ls "$TAG" --format 'image {{.Repository}}:{{.Tag}} {{.Size}}'
