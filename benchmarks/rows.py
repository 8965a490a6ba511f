"""Benchmark figures kept over time: rows appended to a CSV file, with a header on first use."""

import csv


def append_rows(path, rows):
    """Append `rows` (dicts with the same keys) to the CSV file at `path`; say so."""
    new_file = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new_file:
            writer.writeheader()
        writer.writerows(rows)
    print(f"appended {len(rows)} rows to {path}")
