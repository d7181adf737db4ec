"""The ``antrean`` command as a user starts it: real processes, a real embedded redis-server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("aiogram", "aiohttp", "redis", "pydantic", "pydantic_settings", "rq", "httpx")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the developer's own ANTREAN_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREAN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def redis_servers_under(directory: Path) -> dict[int, str]:
    """The redis-server processes (pid: command line) whose socket is under ``directory`` (the
    machine's own Redis and other tests' servers are not)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv)
        if "redis-server" in line and str(directory) in line:
            found[int(proc.name)] = line
    return found


@pytest.fixture
def no_server_left(tmp_path: Path) -> Iterator[None]:
    """A server the code under test leaves behind is killed after the test has failed."""
    yield
    for pid in redis_servers_under(tmp_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["chat", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    # `antrean --help` took 1.5-2 s, most of it importing aiogram, redis and pydantic.
    probe = (
        "import json, sys\n"
        "from bot.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=clean_env(), capture_output=True, text=True, check=True
    )
    assert "usage: antrean" in result.stdout
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_production_without_a_channel_refuses_to_start(tmp_path: Path) -> None:
    env = clean_env(ANTREAN_ENV="production", ANTREAN_SECRET_KEY="k" * 48)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--with-worker"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ANTREAN_ENV=production needs a channel" in result.stderr
    assert "ANTREAN_TELEGRAM_TOKEN" in result.stderr
    assert result.stdout == ""  # no console chat opened
    assert not (tmp_path / "var" / "redis").exists()  # nor a Redis started


def start_chat(
    tmp_path: Path, *argv: str, out_name: str = "out.txt"
) -> tuple[subprocess.Popen[bytes], Path]:
    """``antrean <argv>`` with the embedded server, its stdin a pipe left open, once the menu is
    on screen."""
    out = tmp_path / out_name
    with out.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *argv],
            env=clean_env(),
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while "  1. " not in out.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no menu on screen:\n{out.read_text(errors='replace')}")
        time.sleep(0.1)
    assert redis_servers_under(tmp_path), "the embedded redis-server is not running"
    return process, out


@pytest.mark.parametrize(
    ("argv", "ending"),
    [
        (["chat"], "ctrl-d"),
        (["chat"], signal.SIGINT),
        (["chat"], signal.SIGTERM),
        (["chat"], signal.SIGHUP),
        (["run", "--with-worker"], "ctrl-d"),
        (["run", "--with-worker"], signal.SIGTERM),
    ],
    ids=["chat-eof", "chat-sigint", "chat-sigterm", "chat-sighup", "run-eof", "run-sigterm"],
)
@pytest.mark.usefixtures("no_server_left")
def test_ending_the_chat_stops_the_embedded_server_quickly(
    tmp_path: Path, argv: list[str], ending: str | signal.Signals
) -> None:
    # Ctrl-D took 3.7-8.5 s and once left the redis-server running with no clients; SIGTERM
    # killed the process at once and always left it.
    process, out = start_chat(tmp_path, *argv)
    assert process.stdin is not None
    started = time.monotonic()
    if ending == "ctrl-d":
        process.stdin.close()
    else:
        assert isinstance(ending, signal.Signals)
        process.send_signal(ending)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"still running 30 s after {ending}") from None
    finally:
        process.stdin.close()
    took = time.monotonic() - started
    output = out.read_text(errors="replace")
    assert code == 0, output
    assert "Traceback" not in output
    # Log lines (the embedded Redis starting, the chat's own) go to the chat's log file.
    assert " INFO " not in output, output
    # A few seconds on a loaded machine; well under the 15 s the worker is given to stop.
    assert took < 10, f"{took:.1f} s to exit"
    deadline = time.monotonic() + 5
    while redis_servers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert redis_servers_under(tmp_path) == {}, "the embedded redis-server was left running"


@pytest.mark.usefixtures("no_server_left")
def test_the_server_is_shared_and_stopped_by_the_last_process(tmp_path: Path) -> None:
    # One checkout's processes share one server on purpose (make run, a second identity with
    # antrean chat --as, antrean audit): the first to leave must not stop it under the other.
    first, _ = start_chat(tmp_path, "chat", out_name="first.txt")
    second, second_out = start_chat(tmp_path, "chat", "--as", "console:admin", out_name="b.txt")
    servers = redis_servers_under(tmp_path)
    assert len(servers) == 1
    assert first.stdin is not None and second.stdin is not None
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    first.stdin.close()
    assert redis_servers_under(tmp_path) == servers  # still serving the second
    second.stdin.write(b"menu\n")  # a turn after the first left: the server still answers
    second.stdin.close()
    assert second.wait(timeout=30) == 0
    assert second_out.read_text(errors="replace").count("  1. ") == 2
    deadline = time.monotonic() + 5
    while redis_servers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert redis_servers_under(tmp_path) == {}
