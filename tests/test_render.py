"""The report's HTML: standalone, titled, printable, and with nothing to fetch from elsewhere."""

import re

import nbformat

from conftest import ROOT
from unused_tokens.report.render import to_html

TEMPLATE = ROOT / "workflow" / "notebooks" / "offline.html.j2"


def test_the_html_loads_nothing_from_elsewhere_and_keeps_its_title_and_print_rules(tmp_path):
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A title\n\nA finding, $x$ included."),
            nbformat.v4.new_code_cell(
                "print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")]
            ),
        ]
    )
    source, html = tmp_path / "report.ipynb", tmp_path / "report.html"
    nbformat.write(notebook, str(source))
    to_html(source, html, "study: a test", TEMPLATE)
    page = html.read_text()
    assert "<title>study: a test</title>" in page
    assert "print(1)" not in page and "A finding" in page  # inputs hidden
    assert "break-after: avoid" in page  # the print rules
    fetched = re.findall(
        r"""(?:src|href)=["']?(?:https?:)?//|url\(["']?(?:https?:)?//|@import""", page
    )
    assert fetched == [] and "<script src" not in page
