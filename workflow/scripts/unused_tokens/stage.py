"""What every stage script shares: logging to its Snakemake log file and one-line errors."""

import contextlib
import logging
import sys

from .errors import PipelineError


@contextlib.contextmanager
def stage(snakemake):
    """Log to the rule's `log:` file and to the console; turn a PipelineError into one line."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(snakemake.log[0], mode="w"), logging.StreamHandler()],
        force=True,
    )
    try:
        yield logging.getLogger(snakemake.rule)
    except PipelineError as err:
        logging.getLogger(snakemake.rule).error("%s", err)
        sys.exit(1)
