"""The docs the code cites: every "docs/paper.md" section named in the package exists."""

import re
from pathlib import Path

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
