"""The documentation cannot rot: README.md's and docs/'s relative links point at files that
exist, and every "docs/design.md section N" the code cites names a section docs/design.md has.

`mkdocs build --strict` (run by .ci/run) checks the links between docs pages too, but not the
README's, which GitHub and PyPI show and mkdocs never builds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
CITING = ("sim", "venues", "strategies", "tests", "examples")

# [text](target), not images' alt text alone; a target ends at whitespace or ")".
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# "docs/design.md section 4", "docs/design.md sections 7-8", wrapped over comment or docstring
# lines: whitespace and "#" may come between the words.
CITATION = re.compile(r"docs/design\.md[\s#]+sections?[\s#]+(\d+)(?:\s*-\s*(\d+))?")
SECTION = re.compile(r"^## (\d+)\. ", re.MULTILINE)


def relative_links(markdown: str) -> list[str]:
    """The link targets in `markdown` that name a file of the repository: no URL, no mail, no
    anchor alone; an anchor or query after a path is dropped."""
    targets = []
    for target in LINK.findall(markdown):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(re.split(r"[#?]", target, maxsplit=1)[0])
    return targets


def cited_sections(text: str) -> set[int]:
    """The section numbers `text` cites as docs/design.md's, ranges expanded."""
    cited = set()
    for first, last in CITATION.findall(text):
        cited.update(range(int(first), int(last or first) + 1))
    return cited


def test_the_parsers_find_what_they_should():
    markdown = "[a](docs/a.md#x) [b](https://x.org/c.md) [c](#top) ![d](img/e.png) [f](g.md?h)"
    assert relative_links(markdown) == ["docs/a.md", "img/e.png", "g.md"]
    code = '"""Load (docs/design.md sections 7-8) and\n    # docs/design.md\n    # section 10."""'
    assert cited_sections(code) == {7, 8, 10}


@pytest.mark.parametrize(
    "page",
    [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_relative_links_point_at_files_that_exist(page: Path):
    targets = relative_links(page.read_text(encoding="utf-8"))
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_the_readme_links_to_the_docs():
    assert any(t.startswith("docs/") for t in relative_links((ROOT / "README.md").read_text()))


def test_every_design_citation_names_a_section_that_exists():
    sections = {int(n) for n in SECTION.findall(DESIGN.read_text(encoding="utf-8"))}
    assert sections == set(range(1, len(sections) + 1)), "sections are numbered 1, 2, 3, ..."
    citations = {}
    for folder in CITING:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for section in cited_sections(path.read_text(encoding="utf-8")):
                citations.setdefault(section, []).append(str(path.relative_to(ROOT)))
    assert citations, "the code cites docs/design.md: the pattern must find those citations"
    unknown = {s: files for s, files in citations.items() if s not in sections}
    assert not unknown, f"cited sections missing from docs/design.md: {unknown}"
