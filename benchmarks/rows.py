"""Benchmark figures kept over time: rows appended to a CSV file, with a header on first use."""

import csv
import os


def append_rows(path, rows):
    """Append `rows` (dicts) to the CSV file at `path`; say so.

    When the rows bring columns the file does not have yet, the file is rewritten (atomically)
    with the union of both headers, the older rows left empty in the new columns.
    """
    old_rows, columns = [], []
    if path.exists():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            old_rows, columns = list(reader), list(reader.fieldnames or [])
    columns += [c for c in dict.fromkeys(c for row in rows for c in row) if c not in columns]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(old_rows + rows)
    os.replace(tmp, path)
    print(f"appended {len(rows)} rows to {path}")
