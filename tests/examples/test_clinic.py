"""The README's example bot (examples/clinic.py) runs on the console channel with a real Redis,
end to end, without importing any of the booking bot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from bot.infra.embedded import RedisServer

ROOT = Path(__file__).resolve().parents[2]
# Runs the example as ``python -m examples.clinic`` does, then lists what it imported.
RUN = """
import runpy, sys
runpy.run_module("examples.clinic", run_name="__main__")
print("MODULES", " ".join(sorted(sys.modules)), file=sys.stderr)
"""
BOOKING = ("bot.booking", "handlers", "workers")


def test_the_clinic_bot_books_a_request_on_the_console(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.delete("clinic:requests")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREAN_")}
    env.update(ANTREAN_REDIS_URL=redis_server.url, ANTREAN_VAR_DIR=str(tmp_path))
    typed = "2\n1\nSiti Aminah\nhelp\n"  # Dentistry, the first day offered, the name
    result = subprocess.run(
        [sys.executable, "-c", RUN],
        input=typed,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.index("Which department") < out.index("Which day") < out.index("full name")
    assert "Thank you, Siti Aminah. Your request for Dentistry on " in out
    assert "Words that always work: menu, cancel, help." in out  # the framework's own help
    [request] = client.lrange("clinic:requests", 0, -1)
    assert "Dentistry" in request and "Siti Aminah" in request
    modules = result.stderr.split("MODULES ", 1)[1].split()
    assert "channels.console" in modules and "bot.core.engine" in modules
    imported = [m for m in modules if m.startswith(BOOKING)]
    assert imported == [], imported
    client.close()


def test_the_clinic_bot_is_under_60_lines() -> None:
    assert len((ROOT / "examples" / "clinic.py").read_text().splitlines()) < 60
