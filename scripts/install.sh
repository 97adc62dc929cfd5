#!/usr/bin/env bash
# Create .venv and install the pinned lock. Idempotent: does nothing when the lock and
# pyproject.toml are unchanged since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp=.venv/.install-stamp
want=$(cat requirements.lock pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "安装依赖（首次约需几分钟）…"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# Rasa 3.6 declares Python<3.11 but runs on 3.11: every package is pinned with == in the lock,
# so installing without resolution reproduces the verified environment exactly.
pipq() {  # pip, quiet unless it fails
  local log; log=$(mktemp)
  if ! .venv/bin/pip --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
}
pipq install --no-deps --ignore-requires-python -r requirements.lock
pipq install --no-deps --no-build-isolation -e .
PYTHONWARNINGS=ignore .venv/bin/python -c "import rasa, rasa_sdk, sqlalchemy, jieba, opencc, cn2an, bot, actions, catalog, language, replies" 2>/dev/null || { echo "安装后导入检查失败" >&2; exit 1; }
echo "$want" > "$stamp"
echo "依赖安装完成。"
