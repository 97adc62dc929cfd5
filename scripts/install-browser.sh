#!/usr/bin/env bash
# What the kiosk's browser tests need (docs/kiosk.md): Debian's headless Chromium and its driver, a CJK font
# (without one Chromium draws every Chinese character as an empty box), espeak-ng for server-side read-aloud,
# and the npm packages of package.json (axe-core, the QR generator vendored into the page, the QR decoder).
# Idempotent: does nothing when all of it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

have_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh family 2>/dev/null | head -n1)" ]; }

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/espeak-ng ] || ! have_font; then
  echo "安装浏览器测试所需的系统软件包（chromium、chromium-driver、fonts-noto-cjk、espeak-ng）…"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  pkgs=(chromium chromium-driver fonts-noto-cjk espeak-ng)
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/tmp/install-browser.log 2>&1; then
    $SUDO apt-get update -q >>/tmp/install-browser.log 2>&1 || true
    $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>/tmp/install-browser.log 2>&1 \
      || { tail -n 30 /tmp/install-browser.log >&2; echo "系统软件包安装失败" >&2; exit 1; }
  fi
fi

# npm packages: `npm ci` when node_modules is missing or older than the lock file.
if [ -f package.json ]; then
  stamp=node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
    echo "安装 npm 依赖（npm ci）…"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
