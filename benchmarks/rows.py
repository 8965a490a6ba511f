"""Benchmark figures kept over time: rows appended to a CSV file, with a header on first use, and
figures written with as many digits as they need to be true (a slow CPU's 0.004 is not 0.00)."""

import csv
import math
import os

DIGITS = 3  # significant digits of a printed figure


def significant(x, digits=DIGITS):
    """`x` rounded to `digits` significant digits, as a float (for a CSV row)."""
    return float(f"{x:.{digits}g}")


def figure(x, digits=DIGITS):
    """`x` printed with `digits` significant digits (more for integer digits), never as an
    exponent: 0.00412, 4.12, 412, 41234."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    rounded = significant(x, digits)  # 0.09996 is 0.100 (three digits), not 0.1000
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{x:.{decimals}f}"


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
    try:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(old_rows + rows)
        os.replace(tmp, path)
    except BaseException:  # nothing half written left behind (a malformed file, Ctrl-C)
        tmp.unlink(missing_ok=True)
        raise
    print(f"appended {len(rows)} rows to {path}")
