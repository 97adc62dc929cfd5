"""Set up and start the bot: catalog import, generated NLU files, training when needed, both servers.

python -m bot run      # what `make run` calls; Ctrl-C stops everything it started
python -m bot train    # import + generate + train only
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from bot import generate
from catalog.db import database_url
from catalog.importer import CatalogInvalid, import_catalog

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
MODELS = ROOT / "models"
PY = sys.executable
TRAINING_INPUTS = ["config.yml", "domain.yml", "data", "bot/nlu", "language"]


def log(msg: str) -> None:
    """Print a launcher message, prefixed so it stands out among the servers' logs."""
    print(f"[银龄助手] {msg}", flush=True)


def base_env() -> dict[str, str]:
    """The environment the servers run with: no telemetry, this checkout on PYTHONPATH, loopback, one TF thread."""
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("SANIC_HOST", "127.0.0.1")
    # The models are small: one TensorFlow thread each costs less than threads that wait on each other, and
    # leaves the other core to the action server or a second instance.
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    return env


def fingerprint() -> str:
    """Hash of everything training reads; the model file is named after it."""
    h = hashlib.sha256()
    for name in TRAINING_INPUTS:
        p = ROOT / name
        files = sorted(x for x in p.rglob("*") if x.is_file() and "__pycache__" not in x.parts) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def ensure_catalog(url: str | None = None) -> None:
    """Import the catalog data when it changed since the last import; stop with the errors if invalid."""
    try:
        res = import_catalog(url, if_changed=True)
    except CatalogInvalid as exc:
        for e in exc.errors:
            print(e, file=sys.stderr)
        raise SystemExit(f"目录数据有 {len(exc.errors)} 处错误，未导入。") from None
    if not res.skipped:
        log(f"目录已导入：{res.service_points} 个服务点，{res.policies} 条政策。")


def ensure_model() -> Path:
    """Regenerate the catalog-derived NLU files, then train unless a model of this fingerprint exists.

    One process at a time (a file lock): two trainings of one fingerprint used to write one corrupt file. The model
    is trained under a temporary name and renamed, so a reader never sees half a model.
    """
    MODELS.mkdir(exist_ok=True)
    with open(MODELS / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        generate.main([])
        model = MODELS / f"yinling-{fingerprint()}.tar.gz"
        if model.exists():
            return model
        log("训练对话模型（约两分钟）…")
        started = time.monotonic()
        partial = f"partial-{os.getpid()}-{model.name.removesuffix('.tar.gz')}"
        subprocess.run(
            [PY, "-m", "rasa", "train", "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
             "--out", str(MODELS), "--fixed-model-name", partial],
            cwd=ROOT, env=base_env(), check=True,
        )
        os.replace(MODELS / f"{partial}.tar.gz", model)
        log(f"训练完成，用时 {time.monotonic() - started:.0f} 秒。")
        return model


def api_token() -> str:
    """RASA_AUTH_TOKEN, or a token generated once and kept in var/ (never in git)."""
    if os.environ.get("RASA_AUTH_TOKEN"):
        return os.environ["RASA_AUTH_TOKEN"]
    path = VAR / "api_token"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        path.write_text(secrets.token_hex(24))  # hex: never starts with "-" (read as a CLI flag)
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Servers:
    """The running action server and Rasa processes with their URLs."""

    rasa_url: str
    action_url: str
    token: str
    procs: list[subprocess.Popen]
    database_url: str

    def stop(self) -> None:
        """Stop the processes (terminate, then kill after a grace period)."""
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _wait(check, what: str, procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"{what} 启动失败（进程已退出）")
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} 在 {timeout:.0f} 秒内没有就绪")


def port_free(port: int) -> bool:
    """True when nothing listens on the loopback port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def action_endpoint(port: int) -> str:
    """The action server's URL that endpoints.yml reads from ACTION_ENDPOINT_URL."""
    return f"http://127.0.0.1:{port}/webhook"


@contextmanager
def serving(model: Path, rasa_port: int = 5005, action_port: int = 5055, url: str | None = None,
            log_dir: Path | None = None, timeout: float = 120,
            extra_env: dict[str, str] | None = None) -> Iterator[Servers]:
    """Start the action server and Rasa, wait until both answer, stop them on exit."""
    for port in (rasa_port, action_port):
        if not port_free(port):
            raise RuntimeError(f"端口 {port} 已被占用：请先停止占用它的程序，或用 RASA_PORT / ACTION_PORT 换一个端口")
    url = url or database_url()
    env = base_env() | (extra_env or {})
    env["DATABASE_URL"] = url
    env["ACTION_ENDPOINT_URL"] = action_endpoint(action_port)
    token = api_token()

    def out(name: str):
        if log_dir is None:
            return None
        log_dir.mkdir(parents=True, exist_ok=True)
        return open(log_dir / f"{name}.log", "ab")

    actions = subprocess.Popen(
        [PY, "-m", "bot.action_server", "--actions", "actions", "--port", str(action_port)],
        cwd=ROOT, env=env, start_new_session=True, stdout=out("actions"), stderr=subprocess.STDOUT,
    )
    rasa = subprocess.Popen(
        [PY, "-m", "bot.serve", "run", "--model", str(model), "--endpoints", "endpoints.yml",
         "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(rasa_port),
         "--enable-api", f"--auth-token={token}", "--cors", f"http://127.0.0.1:{rasa_port}",
         f"http://localhost:{rasa_port}"],
        cwd=ROOT, env=env, start_new_session=True, stdout=out("rasa"), stderr=subprocess.STDOUT,
    )
    servers = Servers(f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{action_port}", token, [actions, rasa], url)
    try:
        _wait(lambda: requests.get(f"{servers.action_url}/health", timeout=2).ok, "动作服务器", servers.procs, timeout)
        _wait(lambda: requests.get(f"{servers.rasa_url}/status", params={"token": token}, timeout=2)
              .json().get("model_id") is not None, "Rasa 服务器", servers.procs, timeout)
        yield servers
    finally:
        servers.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m bot): run (train when needed, import the catalog, start both servers) or train."""
    args = argv if argv is not None else sys.argv[1:]
    cmd = args[0] if args else "run"
    ensure_catalog()
    model = ensure_model()
    if cmd == "train":
        return 0
    # SIGTERM stops the servers too (the finally of `serving`), as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    action_port = int(os.environ.get("ACTION_PORT", "5055"))
    log("启动动作服务器和 Rasa 服务器…")
    with serving(model, rasa_port, action_port, log_dir=VAR / "logs") as servers:
        log(f"已就绪。对话接口：POST http://localhost:{rasa_port}/webhooks/rest/webhook")
        log(f"社区触摸屏页面：http://localhost:{rasa_port}/webhooks/kiosk/?region=江汉区")
        log(f"热线话务员控制台：http://localhost:{rasa_port}/webhooks/console/"
            "（账号：.venv/bin/python -m bot.console add-user 名字）")
        sample = '{"sender": "me", "message": "江汉区有没有助餐点"}'
        log(f"试试：curl -s localhost:{rasa_port}/webhooks/rest/webhook -d '{sample}'")
        log(f"日志在 {VAR / 'logs'}；按 Ctrl-C 停止。")
        return hold(servers.procs)


def hold(procs: list[subprocess.Popen]) -> int:
    """Block until Ctrl-C (0) or until one of the processes exits by itself (1)."""
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        log("有服务进程意外退出，正在停止。")
        return 1
    except KeyboardInterrupt:
        log("正在停止…")
        return 0


if __name__ == "__main__":
    sys.exit(main())
