"""What every stage script shares: logging to its Snakemake log file and errors it can read."""

import contextlib
import logging
import signal
import sys
from pathlib import Path

from .errors import INTERRUPTED, TERMINATED, PipelineError
from .files import DiskFull, check_parquet_inputs, disk_full, free_bytes, unreadable_parquet


@contextlib.contextmanager
def stage(snakemake, where=None):
    """Log to the rule's `log:` file and to the console (first `where` the job runs, if given),
    and check the Parquet inputs (files.check_parquet_inputs) before the block runs. A
    PipelineError (bad input, with its fix) becomes one line, and so does Ctrl-C
    (KeyboardInterrupt) at any point; any other exception gets a line saying what it is
    (explain) with its traceback below, so that the log never stays silent about why the job
    failed. SIGTERM (a scheduler's time limit, a kill) is one
    line too where nothing else handles it: in a script of its own, not in a warm trainer
    (shared_process), whose handler stays."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(snakemake.log[0], mode="w"), logging.StreamHandler()],
        force=True,
    )
    log = logging.getLogger(snakemake.rule)
    taken = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if taken:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        if where:
            log.info("%s", where)
        check_parquet_inputs(snakemake.input, lambda path: maker(snakemake, path))
        yield log
    except PipelineError as err:
        log.error("%s", err)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error(
            "interrupted (Ctrl-C) in rule %s before its outputs were written; run the same "
            "command again to go on",
            snakemake.rule,
        )
        sys.exit(INTERRUPTED)
    except Terminated:
        log.error(
            "stopped by SIGTERM (a time limit, or a kill) in rule %s before its outputs were "
            "written; run the same command again to go on",
            snakemake.rule,
        )
        sys.exit(TERMINATED)
    except Exception as err:
        log.exception("%s", explain(err, snakemake))
        sys.exit(1)
    finally:
        if taken:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def maker(snakemake, path):
    """The rule that writes the job's input `path` (the rule's `makers` param)."""
    return snakemake.params.get("makers", {}).get(path, "that writes it")


class Terminated(BaseException):
    """SIGTERM in a stage: a BaseException, so that no `except Exception` in its code holds it."""


def _terminate(_signum, _frame):
    raise Terminated


def explain(err, snakemake):
    """The one line above the traceback of an exception the stage did not expect: an input
    that is not readable Parquet (naming the rule that writes it), a full disk, or else a bug."""
    unreadable = unreadable_parquet(snakemake.input)
    if unreadable:
        path, reason = unreadable
        return (
            f"{path} is not a readable Parquet file ({reason}): it is damaged or truncated; "
            f"delete it and run snakemake again, which remakes it with rule "
            f"{maker(snakemake, path)}"
        )
    folder = Path(getattr(err, "filename", None) or snakemake.output[0]).parent
    if disk_full(err, folder):
        return str(DiskFull(getattr(err, "filename", None) or folder, free_bytes(folder)))
    return (
        f"unexpected error in rule {snakemake.rule}: {type(err).__name__}: {err} (the traceback "
        "follows; please report it with this log)"
    )
