"""The Python the README and docs/python-api.md show runs as written, so they cannot drift
from the code.

Each page's ```python blocks run in order in one namespace, as a reader pasting them into one
session would. A block that shows an error (a line `# ScenarioError: ...`) must raise it; a
block after `<!-- not run: why -->` is skipped (a fragment, or one needing a network).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.model.errors import ScenarioError
from strategies.registry import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/python-api.md")
BLOCK = re.compile(r"(<!-- not run:[^>]*-->\s*\n)?```python\n(.*?)```", re.DOTALL)
SHOWN_ERROR = re.compile(r"^# ScenarioError: (.*)$", re.MULTILINE)


def blocks(markdown: str) -> list[tuple[bool, str]]:
    """(whether to run it, its code) for every ```python block of `markdown`."""
    return [(not skip, code) for skip, code in BLOCK.findall(markdown)]


def test_blocks_finds_what_it_should():
    page = "a\n```python\nx = 1\n```\n<!-- not run: a fragment -->\n```python\ny\n```\n"
    page += "```sh\nz\n```"
    assert blocks(page) == [(True, "x = 1\n"), (False, "y\n")]


@pytest.fixture
def registry():
    """Registered kinds are global: put them back as they were after the test."""
    saved = dict(STRATEGIES)
    yield
    STRATEGIES.clear()
    STRATEGIES.update(saved)


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_python_runs_as_written(page: str, registry, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing a block writes lands in the repository
    namespace: dict = {"__name__": "__doc_page__"}
    found = blocks((ROOT / page).read_text())
    assert any(run for run, _ in found), f"{page} shows no Python"
    for i, (run, code) in enumerate(found):
        if not run:
            continue
        compiled = compile(code, f"{page} block {i}", "exec")
        shown = SHOWN_ERROR.search(code)
        if shown is None:
            exec(compiled, namespace)
            continue
        with pytest.raises(ScenarioError) as raised:
            exec(compiled, namespace)
        # The shown message wraps onto more comment lines: compare its start, up to a bracket.
        start = shown.group(1).split(" (")[0]
        assert str(raised.value).startswith(start), (start, str(raised.value))
