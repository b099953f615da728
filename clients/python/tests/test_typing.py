"""The package ships py.typed, so its annotations must hold: mypy --strict over src/tokenmeter is clean
(stdlib only: --no-site-packages, so LiteLLM is not analysed; its base class is Any here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import SRC


def test_mypy_strict_is_clean():
    pytest.importorskip("mypy", reason="mypy not installed: pip install mypy==2.4.1 (see .ci/run)")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.10",
         "--no-site-packages", "--ignore-missing-imports", "--allow-subclassing-any", str(SRC / "tokenmeter")],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
