"""Run a parameterised notebook with papermill and turn it into HTML without code cells."""

import os

import nbformat
import papermill
from nbconvert import HTMLExporter

from ..pipeline.files import atomic_output


def execute_notebook(template, output, parameters):
    """Execute `template` with `parameters` injected after its `parameters` cell."""
    with atomic_output(output) as tmp:
        papermill.execute_notebook(
            str(template),
            str(tmp),
            parameters=parameters,
            kernel_name="python3",
            cwd=os.getcwd(),
            progress_bar=False,
        )


PRINT_CSS = """<style>
@media print {
  h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  img, tr, summary { break-inside: avoid; page-break-inside: avoid; }
}
</style>
"""  # in print, a heading stays with what follows it, and no figure is cut in two


def to_html(notebook, html, title, template):
    """Render an executed notebook as standalone HTML titled `title`, figures embedded, inputs
    hidden, printable without a heading alone at the foot of a page, and with nothing to fetch
    from elsewhere (`template`: workflow/notebooks/offline.html.j2, nbconvert's lab template
    without its CDN scripts)."""
    exporter = HTMLExporter(
        template_file=str(template),
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    node = nbformat.read(str(notebook), as_version=4)
    node.metadata["title"] = title
    body, _ = exporter.from_notebook_node(node)
    body = body.replace("</head>", PRINT_CSS + "</head>", 1)
    with atomic_output(html) as tmp:
        tmp.write_text(body, encoding="utf-8")
