"""The docs: every "docs/paper.md" section the code cites exists, and every table of measured numbers is the
render of its results file (`make docs`)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_section_of_docs_paper_the_code_cites_exists():
    headings = {line.lstrip("#").strip() for line in (ROOT / "docs" / "paper.md").read_text().splitlines()
                if line.startswith("#")}
    cited = set()
    for folder in ("illusion_torch", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in re.findall(r'docs/paper\.md,? \(?"([^"]+)"', path.read_text()):
                cited.add((" ".join(w for w in name.split() if w != "#"), path.name))   # across lines
    assert cited and not [(name, where) for name, where in cited
                          if not any(h.startswith(name) for h in headings)]
    assert not [p.name for folder in ("illusion_torch", "benchmarks") for p in (ROOT / folder).rglob("*.py")
                if "PAPER.md" in p.read_text()]                 # one account of the paper: docs/paper.md


def _render_docs():
    import importlib.util
    path = ROOT / "benchmarks" / "render_docs.py"
    spec = importlib.util.spec_from_file_location("render_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_committed_page_is_the_render_of_its_results_files():
    """`make docs` reproduces every page byte for byte: a table typed by hand, or results rerun without
    `make docs`, fails here with the page's name."""
    render_docs = _render_docs()
    stale = [p.name for p in render_docs.pages() if render_docs.render(p.read_text(), p.name) != p.read_text()]
    assert stale == [], f"run `make docs`: {stale} differ from their render"


def test_a_changed_result_changes_the_page_and_an_unknown_table_is_one_clear_error(monkeypatch):
    render_docs = _render_docs()
    page = "before\n<!-- table: mapping-paper-cases -->\n| stale |\n<!-- /table -->\nafter\n"
    real = render_docs.render(page)
    assert "| stale |" not in real and real.startswith("before\n") and real.endswith("after\n")
    assert "| MNIST 8 × 512 B | 1,248 |" in real
    import docs_tables
    original = docs_tables.load

    def edited(name):
        data = original(name)
        if name == "mapping.json":
            data["paper_cases"][0]["bilp_bytes"] = 1111
        return data
    monkeypatch.setattr(docs_tables, "load", edited)
    assert "| MNIST 8 × 512 B | 1,248 | 1,111 |" in render_docs.render(page)
    with pytest.raises(SystemExit, match="unknown table 'nope'"):
        render_docs.render("<!-- table: nope -->\n<!-- /table -->")
