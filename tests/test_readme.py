"""The links of the README, the docs and config/README.md to files of the repository point at files
that exist, and the README stays one screen of essentials."""

import re

import pytest

from conftest import PAGES, ROOT


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_resolves(page):
    text = page.read_text()
    links = re.findall(r"\]\(([^)#:\s]+)(?:#[^)\s]*)?\)", text)  # files, not URLs (https:...)
    assert [link for link in links if not (page.parent / link).exists()] == []


def test_the_readme_shows_the_key_figure():
    assert "](docs/training.png)" in (ROOT / "README.md").read_text()


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
