"""The README's links to files of the repository (its figures) point at files that exist."""

import re

from conftest import ROOT


def test_every_local_link_of_the_readme_resolves():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#:\s]+)\)", text)  # not anchors (#...), not URLs (https:...)
    assert "docs/training.png" in links
    assert [link for link in links if not (ROOT / link).is_file()] == []
