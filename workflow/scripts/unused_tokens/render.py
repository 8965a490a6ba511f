"""Run a parameterised notebook with papermill and turn it into HTML without code cells."""

import os

import nbformat
import papermill
from nbconvert import HTMLExporter

from .files import atomic_output


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


def to_html(notebook, html):
    """Render an executed notebook as standalone HTML, figures embedded, inputs hidden."""
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    with atomic_output(html) as tmp:
        tmp.write_text(body, encoding="utf-8")
