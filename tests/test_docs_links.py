"""Documentation links stay inside the repository: every relative link of README.md and
docs/*.md names a file that exists here, and no page points into a developer's machine."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_relative_links_resolve_inside_the_repository():
    bad = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path = (page.parent / target).resolve()
            if not path.is_relative_to(REPO) or not path.exists():
                bad.append(f"{page.name}: {target}")
    assert not bad


def test_no_page_names_a_file_outside_the_repository():
    bad = [f"{page.name}: {m}" for page in PAGES
           for m in re.findall(r"/work/\S+", page.read_text())]
    assert not bad
