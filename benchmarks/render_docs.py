"""Render the docs' tables of measured numbers from ``benchmarks/results/`` into the pages (``make docs``).

Usage::

    python benchmarks/render_docs.py            # rewrite README.md and docs/*.md where a table changed
    python benchmarks/render_docs.py --check    # exit 1 naming each page that differs from its render

A page asks for a table by name between two markers; everything between them is the render's::

    <!-- table: paper-table -->
    | workload | ... |
    <!-- /table -->

The names are ``docs_tables.TABLES``'. The drift test (tests/test_docs.py) runs ``render`` on every page.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_tables import TABLES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MARKED = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def pages() -> list[Path]:
    """The pages that may hold rendered tables: the README and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def render(text: str, where: str = "page") -> str:
    """``text`` with every marked table replaced by its render from the results files."""
    def one(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise SystemExit(f"{where}: unknown table {name!r}; the names are {', '.join(sorted(TABLES))}")
        return m.group(1) + TABLES[name]() + "\n" + m.group(4)
    return MARKED.sub(one, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page differs from its render")
    args = ap.parse_args(argv)
    stale = []
    for page in pages():
        text = page.read_text()
        new = render(text, page.name)
        if new != text:
            stale.append(page.relative_to(ROOT))
            if not args.check:
                page.write_text(new)
    verb = "differ from their render" if args.check else "rewritten"
    print(f"{len(stale)} page(s) {verb}" + (": " + ", ".join(map(str, stale)) if stale else ""))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())
