"""What every bad-input test checks of the command's output."""

from __future__ import annotations

import pytest


def one_error_line(capsys: pytest.CaptureFixture[str], status: int | str | None) -> str:
    """The single stderr line of a run that failed on bad input: status 2, nothing on stdout,
    no traceback."""
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert status == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    return lines[0]
