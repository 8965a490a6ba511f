"""The one exception type for problems a user can fix: bad config, bad input, unreachable data.

Its message is a single line that names the file, source or config key and what to do; stage
scripts print it without a traceback (see stage.py), and exit with status 1, INTERRUPTED after
Ctrl-C, or TERMINATED after SIGTERM.
"""

INTERRUPTED = 130  # the shell's exit status after SIGINT
TERMINATED = 143  # and after SIGTERM


class PipelineError(Exception):
    """A problem in the user's input or configuration, explained in one line."""
