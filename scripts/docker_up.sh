#!/usr/bin/env bash
# Install and start a Docker engine (Debian's docker.io) and debootstrap, as root; idempotent.
set -euo pipefail
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  nohup dockerd >/tmp/repoagent-dockerd.log 2>&1 &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
fi
docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/repoagent-dockerd.log" >&2; exit 1; }
echo "docker engine $(docker version --format '{{.Server.Version}}') is up"
