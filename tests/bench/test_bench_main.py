"""`python -m bench`: a SIGTERM ends it through `finally` blocks, so the local runtimes it started are stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.__main__ import terminated

ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_is_an_exit_that_runs_finally_blocks(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        terminated(signal.SIGTERM, None)
    assert raised.value.code == 128 + signal.SIGTERM
    marker = tmp_path / "cleaned"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from bench.__main__ import terminated
        signal.signal(signal.SIGTERM, terminated)
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            open({str(marker)!r}, "w").write("stopped")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=30, env={**os.environ})
    assert done.returncode == 128 + signal.SIGTERM
    assert marker.read_text() == "stopped"
