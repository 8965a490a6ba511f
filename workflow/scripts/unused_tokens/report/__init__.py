"""The HTML report: its outline, figures, tables, computed sentences and run facts, and the
rendering of the executed notebook."""
