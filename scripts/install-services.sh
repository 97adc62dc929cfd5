#!/usr/bin/env bash
# What the scale-out layout (tools/scaleout.py, `make scaleout`) needs from Debian: PostgreSQL (catalog and tracker
# store), Redis (Rasa's lock store) and nginx (the proxy in front of the Rasa instances). Only the binaries are
# used: tools/scaleout.py runs private instances of each under var/ on loopback ports, never the system services.
# Idempotent: does nothing when all of it is already there.
set -euo pipefail

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

have_all() {
  local bin
  bin="$(pg_bin)"
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x /usr/bin/redis-server ] && [ -x /usr/sbin/nginx ]
}

if ! have_all; then
  echo "安装横向扩展所需的系统软件包（postgresql、redis-server、nginx）…"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  pkgs=(postgresql redis-server nginx)
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/tmp/install-services.log 2>&1; then
    $SUDO apt-get update -q >>/tmp/install-services.log 2>&1 || true
    $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>/tmp/install-services.log 2>&1 \
      || { tail -n 30 /tmp/install-services.log >&2; echo "系统软件包安装失败" >&2; exit 1; }
  fi
  have_all || { echo "安装后仍缺少 initdb/pg_ctl、redis-server 或 nginx" >&2; exit 1; }
fi
