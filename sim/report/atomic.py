"""Write result files atomically: a temporary file in the same folder, then a rename.

An interrupted run never leaves a half-written file; what was complete stays.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: Path, write: Callable[[IO[str]], None]) -> Path:
    """Create or replace `path` with what `write` writes to a text stream, atomically;
    return `path`."""
    return _atomic(path, write, binary=False)


def write_atomic_bytes(path: Path, data: bytes) -> Path:
    """Create or replace `path` with `data`, atomically; return `path`."""
    return _atomic(path, lambda f: f.write(data), binary=True)


def _atomic(path: Path, write: Callable[[IO], object], *, binary: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    text = {} if binary else {"encoding": "utf-8", "newline": "\n"}
    try:
        with os.fdopen(fd, "wb" if binary else "w", **text) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as JSON text: fixed key order and indentation, so runs compare byte for byte."""
    return json.dumps(summary, indent=2, allow_nan=False) + "\n"


def summary_json_line(summary: dict[str, Any]) -> str:
    """The summary as one line of JSON Lines: `run --all --json` prints one per scenario, so
    the output parses line by line (several indented documents back to back would not)."""
    return json.dumps(summary, separators=(",", ":"), allow_nan=False) + "\n"
