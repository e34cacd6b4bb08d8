"""Fixtures for every test folder. Plain helpers live in tests/helpers/ and are imported as
`from tests.helpers.scenarios import build_scenario`: the repo root is on sys.path through
pyproject's `[tool.pytest.ini_options] pythonpath`, and tests/ is a package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.scenarios import write_toml


@pytest.fixture
def toml_file(tmp_path: Path) -> Callable[..., Path]:
    """Writes scenario text into this test's tmp_path: `toml_file(text, name="scenario.toml")`."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        return write_toml(tmp_path, name, text)

    return write
