"""What every stage script shares: logging to its Snakemake log file and errors it can read."""

import contextlib
import logging
import sys

from .errors import PipelineError


@contextlib.contextmanager
def stage(snakemake):
    """Log to the rule's `log:` file and to the console. A PipelineError (bad input, with its fix)
    becomes one line; any other exception is a bug, logged with its traceback, so that the log
    never stays silent about why the job failed."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(snakemake.log[0], mode="w"), logging.StreamHandler()],
        force=True,
    )
    log = logging.getLogger(snakemake.rule)
    try:
        yield log
    except PipelineError as err:
        log.error("%s", err)
        sys.exit(1)
    except Exception as err:
        log.exception(
            "unexpected error in rule %s: %s: %s (the traceback follows; please report it with "
            "this log)",
            snakemake.rule,
            type(err).__name__,
            err,
        )
        sys.exit(1)
