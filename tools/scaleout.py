"""Scale-out on one machine's loopback: PostgreSQL, Redis, N Rasa instances, one action server, nginx in front.

    python -m tools.scaleout [--instances 2]      # what `make scaleout` calls; Ctrl-C stops everything

Everything runs as private instances in a run folder (var/scaleout/ by default): a PostgreSQL cluster made with
initdb (as the `postgres` user when we are root: PostgreSQL refuses to run as root), a Redis without persistence,
nginx with a generated configuration and no root paths. Rasa's tracker store is SQL on PostgreSQL, its lock store
is Redis (so two instances never process messages of one conversation at the same time), and the catalog is
imported into the same PostgreSQL. The binaries come from Debian (scripts/install-services.sh).

Readiness: nginx is started only once every Rasa instance answers a real /status with its model loaded, and an
instance taken out (restart_instance) is first removed from nginx's upstream (reload), then added back only when
ready again; nginx also passes a request to the next instance when one refuses the connection.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bot.launcher import PY, ROOT, VAR, _wait, action_endpoint, api_token, base_env, ensure_model, free_port, hold, log
from bot.maintenance import as_pg_user, pg_bin
from catalog.importer import import_catalog

DB_NAME = "yinling"
DB_USER = "yinling"
ENDPOINTS = "endpoints-scaleout.yml"  # committed, with ${…} placeholders filled from the environment below




def _pg_owner(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _stop(p: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


@contextmanager
def postgres(run_dir: Path, port: int) -> Iterator[str]:
    """A private PostgreSQL cluster in run_dir/pg on 127.0.0.1:port; yields the SQLAlchemy URL of its database."""
    bin_dir = pg_bin()
    data = run_dir / "pg"
    if not (data / "PG_VERSION").exists():
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        _pg_owner(data)
        made = subprocess.run(as_pg_user([str(bin_dir / "initdb"), "-D", str(data), "-U", DB_USER,
                                           "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"initdb 失败（{data} 及其上级目录须对 postgres 用户可进入）：{made.stderr[-500:]}")
    opts = (f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=on -c synchronous_commit=on "
            "-c max_connections=200 -c shared_buffers=64MB")
    logfile = data / "server.log"
    subprocess.run(as_pg_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", opts,
                                "-w", "-t", "60", "start"]), check=True, stdout=subprocess.DEVNULL)
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE {DB_NAME}")
        conn.close()
        yield f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB_NAME}"
    finally:
        subprocess.run(as_pg_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def postmaster_pid(run_dir: Path) -> int | None:
    """The PID of the private PostgreSQL server, if it runs."""
    try:
        return int((run_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def redis(run_dir: Path, port: int) -> Iterator[subprocess.Popen]:
    """A private redis-server on loopback for the duration of the block."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(run_dir), "--logfile", str(run_dir / "redis.log")],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        import redis as redis_client

        client = redis_client.Redis(host="127.0.0.1", port=port, socket_timeout=1)

        def ping() -> bool:
            try:
                return client.ping()
            except redis_client.RedisError:
                return False

        _wait(ping, "Redis", [proc], 20)
        yield proc
    finally:
        _stop(proc)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-tmp/body;
    proxy_temp_path {dir}/nginx-tmp/proxy;
    fastcgi_temp_path {dir}/nginx-tmp/fastcgi;
    uwsgi_temp_path {dir}/nginx-tmp/uwsgi;
    scgi_temp_path {dir}/nginx-tmp/scgi;
    client_max_body_size 1m;
    # Requests per client address, across every instance (each instance's guard counts only its own share).
    # This machine's own clients (bench, soak, tests) are not limited; over the limit: 429 with the bot's answer.
    geo $outside {{ default 1; 127.0.0.1 0; ::1 0; }}
    map $outside $client_key {{ 0 ""; 1 $binary_remote_addr; }}
    limit_req_zone $client_key zone=per_address:10m rate={rate}r/s;
    limit_req_status 429;
    upstream rasa {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        # A refused or reset connection goes to the next instance, POSTs too: an instance killed mid-turn
        # saved nothing (the tracker is written at the end of the turn), so the message is not lost.
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        proxy_next_upstream_tries 3;
        proxy_connect_timeout 2s;
        proxy_read_timeout 60s;
        location / {{
            limit_req zone=per_address burst={burst} nodelay;
            error_page 429 = @too_fast;
            proxy_pass http://rasa;
        }}
        # WeChat's servers bring every user's messages from a few addresses: limited per user by the guard.
        location /webhooks/wechat/ {{
            proxy_pass http://rasa;
        }}
        location @too_fast {{
            default_type "application/json; charset=utf-8";
            return 429 '{too_fast}';
        }}
    }}
}}
"""
NGINX_RATE = int(os.environ.get("NGINX_RATE_PER_ADDRESS", "5"))    # requests per second, sustained
NGINX_BURST = int(os.environ.get("NGINX_BURST_PER_ADDRESS", "20"))  # requests at once above the rate


def too_fast_body() -> str:
    """The guard's "请稍等" answer in the reply contract, as nginx returns it."""
    from replies import Reply, t

    text = t("too_fast")
    body = json.dumps([{"text": text}, {"custom": Reply("out_of_scope").say(text).payload()}], ensure_ascii=False)
    assert "'" not in body and "$" not in body  # nginx's quoting and variables
    return body


@dataclass
class Nginx:
    """The private nginx in front of the Rasa instances."""

    run_dir: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def conf(self) -> Path:
        """The nginx configuration file."""
        return self.run_dir / "nginx.conf"

    def write(self, upstream_ports: list[int]) -> None:
        """Write the configuration for the upstream ports."""
        (self.run_dir / "nginx-tmp").mkdir(exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstream_ports)
        self.conf.write_text(NGINX_CONF.format(dir=self.run_dir, servers=servers, port=self.port, rate=NGINX_RATE,
                                               burst=NGINX_BURST, too_fast=too_fast_body()), encoding="utf-8")

    def start(self, upstream_ports: list[int]) -> None:
        """Write the configuration and start nginx."""
        self.write(upstream_ports)
        self.proc = subprocess.Popen(
            [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(self.conf), "-p", str(self.run_dir),
             "-e", str(self.run_dir / "nginx-error.log")],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        _wait(lambda: requests.get(f"http://127.0.0.1:{self.port}/", timeout=2).status_code < 500, "nginx",
              [self.proc], 30)

    def reload(self, upstream_ports: list[int]) -> None:
        """New upstream list; nginx's old worker finishes its requests, the new one uses the new list."""
        self.write(upstream_ports)
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGHUP)
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop nginx."""
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGQUIT)  # graceful: finish the requests in flight
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _stop(self.proc, signal.SIGKILL)


@dataclass
class Cluster:
    """The running scale-out layout: nginx, Rasa instances, action server, PostgreSQL, Redis."""

    url: str  # nginx: what clients use
    token: str
    database_url: str
    run_dir: Path
    rasa_ports: list[int]
    rasa: list[subprocess.Popen]
    actions: subprocess.Popen
    redis: subprocess.Popen
    nginx: Nginx
    start_rasa: object = field(repr=False, default=None)
    ready: list[int] = field(default_factory=list)
    redis_url: str = ""  # the lock store's (REDIS_URL)

    def rasa_url(self, i: int) -> str:
        """The URL of Rasa instance i (bypassing nginx)."""
        return f"http://127.0.0.1:{self.rasa_ports[i]}"

    def serving_pids(self) -> dict[str, int]:
        """The PIDs of the Rasa instances and the action server."""
        pids = {f"rasa-{i + 1}": p.pid for i, p in enumerate(self.rasa)} | {"actions": self.actions.pid}
        return pids

    def infrastructure_pids(self) -> dict[str, int]:
        """The PIDs of Redis, nginx and PostgreSQL."""
        pids = {"redis": self.redis.pid}
        if self.nginx.proc is not None:
            pids["nginx"] = self.nginx.proc.pid
        pg = postmaster_pid(self.run_dir)
        if pg:
            pids["postgresql"] = pg
        return pids

    def stop_instance(self, i: int) -> None:
        """Out of nginx's upstream first, then SIGTERM: no request is sent to an instance that is going away."""
        self.ready = [p for p in self.ready if p != self.rasa_ports[i]]
        self.nginx.reload(self.ready)
        _stop(self.rasa[i])

    def restart_instance(self, i: int, timeout: float = 180) -> None:
        """Stop Rasa instance i if it runs and start it again."""
        if self.rasa[i].poll() is None:
            self.stop_instance(i)
        self.rasa[i] = self.start_rasa(i)
        wait_rasa(self.rasa_url(i), self.token, [self.rasa[i]], timeout)
        self.ready = sorted({*self.ready, self.rasa_ports[i]})
        self.nginx.reload(self.ready)


def wait_rasa(url: str, token: str, procs: list[subprocess.Popen], timeout: float) -> None:
    """Ready = a real /status that reports a loaded model (the port accepts connections ~20 s earlier)."""
    _wait(lambda: requests.get(f"{url}/status", params={"token": token}, timeout=2).json().get("model_id")
          is not None, "Rasa 服务器", procs, timeout)


@contextmanager
def scaled(model: Path, instances: int = 2, run_dir: Path | None = None, port: int | None = None,
           timeout: float = 240, extra_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Start the whole layout, wait until every instance is ready, then nginx; stop everything on exit."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        raise RuntimeError("找不到 nginx：请先运行 scripts/install-services.sh")
    with ExitStack() as stack:
        if run_dir is None:
            run_dir = Path(tempfile.mkdtemp(prefix="yinling-scaleout-"))
            stack.callback(shutil.rmtree, run_dir, True)
        run_dir.mkdir(parents=True, exist_ok=True)
        run_dir.chmod(0o755)  # the postgres user must reach its data folder
        logs = run_dir / "logs"
        logs.mkdir(exist_ok=True)
        pg_port, redis_port, action_port = free_port(), free_port(), free_port()
        url = stack.enter_context(postgres(run_dir, pg_port))
        import_catalog(url, if_changed=True)
        redis_proc = stack.enter_context(redis(run_dir, redis_port))

        env = base_env() | (extra_env or {})
        # endpoints-scaleout.yml reads these: action server, tracker store, lock store (Redis db 0).
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env |= {"DATABASE_URL": url, "ACTION_ENDPOINT_URL": action_endpoint(action_port), "REDIS_URL": redis_url}
        # The WeChat channel's dedup and numbered options, shared by the instances (db 1: the locks are in db 0).
        env["WECHAT_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/1"
        env["GUARD_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/2"  # buttons shown by one instance work at another
        # A conversation's lock left by a killed instance expires after this many seconds (Rasa's default: 60);
        # longer than any turn (the action server's timeout is 2.5 s).
        env.setdefault("TICKET_LOCK_LIFETIME", "10")
        token = api_token()
        nginx = Nginx(run_dir, port or free_port())
        rasa_ports = [free_port() for _ in range(instances)]

        def start_rasa(i: int) -> subprocess.Popen:
            return subprocess.Popen(
                [PY, "-m", "bot.serve", "run", "--model", str(model), "--endpoints", ENDPOINTS,
                 "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(rasa_ports[i]),
                 "--enable-api", f"--auth-token={token}", "--cors", f"http://127.0.0.1:{nginx.port}",
                 f"http://localhost:{nginx.port}"],
                cwd=ROOT, env=env, start_new_session=True,
                stdout=open(logs / f"rasa-{i + 1}.log", "ab"), stderr=subprocess.STDOUT,
            )

        actions = subprocess.Popen(
            [PY, "-m", "bot.action_server", "--actions", "actions", "--port", str(action_port)],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=open(logs / "actions.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        stack.callback(_stop, actions)
        rasa: list[subprocess.Popen] = []
        cluster = Cluster(f"http://127.0.0.1:{nginx.port}", token, url, run_dir, rasa_ports, rasa, actions,
                          redis_proc, nginx, start_rasa, redis_url=redis_url)
        stack.callback(lambda: [_stop(p) for p in cluster.rasa])
        stack.callback(nginx.stop)  # runs first: no new request reaches an instance that is stopping
        for i in range(instances):
            rasa.append(start_rasa(i))
        _wait(lambda: requests.get(f"http://127.0.0.1:{action_port}/health", timeout=2).ok, "动作服务器",
              [actions], timeout)
        for i in range(instances):
            wait_rasa(cluster.rasa_url(i), token, [rasa[i]], timeout)
        cluster.ready = sorted(rasa_ports)
        nginx.start(cluster.ready)
        yield cluster


def main(argv: list[str] | None = None) -> int:
    """Command line (python -m tools.scaleout): run the layout on loopback until Ctrl-C."""
    p = argparse.ArgumentParser(prog="python -m tools.scaleout")
    p.add_argument("--instances", type=int, default=2, help="Rasa 实例数")
    p.add_argument("--port", type=int, default=int(os.environ.get("SCALEOUT_PORT", "8080")), help="nginx 端口")
    args = p.parse_args(argv)
    model = ensure_model()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log(f"启动 PostgreSQL、Redis、{args.instances} 个 Rasa 实例、动作服务器和 nginx（仅本机回环地址）…")
    started = time.monotonic()
    with scaled(model, args.instances, VAR / "scaleout", port=args.port) as cluster:
        log(f"已就绪（{time.monotonic() - started:.0f} 秒）。对话接口：POST {cluster.url}/webhooks/rest/webhook")
        log(f"数据库：{cluster.database_url}；日志在 {cluster.run_dir / 'logs'}；按 Ctrl-C 停止。")
        return hold([*cluster.rasa, cluster.actions, cluster.redis])


if __name__ == "__main__":
    sys.exit(main())
