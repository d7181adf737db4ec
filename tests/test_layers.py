"""The layer contracts of pyproject.toml's ``[tool.importlinter]``: kept by the tree as it is, and
broken by an upward import (so a contract that checks nothing would fail here).

Each check runs ``lint-imports`` on a copy of the packages in a temporary directory, in its own
process: the copy comes first on its path, and nothing is written into the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("bot", "channels", "handlers", "workers")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def copy_tree(into: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
    return into


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_the_layer_contracts(tmp_path: Path) -> None:
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("bot/core/upward.py", "from bot.booking.office import Office"),
        ("bot/core/upward.py", "import channels.console"),
        ("channels/upward.py", "from bot.booking.seats import SeatBook"),
        ("bot/booking/upward.py", "import workers.queues"),
        ("bot/infra/upward.py", "from bot.core.engine import Engine"),
    ],
)
def test_an_upward_import_breaks_the_layer_contract(
    tmp_path: Path, module: str, upward: str
) -> None:
    tree = copy_tree(tmp_path)
    (tree / module).write_text(f"{upward}\n\n__all__ = []\n", encoding="utf-8")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout
