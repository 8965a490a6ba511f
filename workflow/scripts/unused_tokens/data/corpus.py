"""Read the corpus text and cut away the Project Gutenberg licence header and footer.

A UTF-8 byte order mark is dropped and Windows (CR LF) or old Mac (CR) line endings read as LF
before anything else: a book's tokens do not depend on the editor that saved it (with CR LF the
real book would give 153,342 tokens instead of 143,695, one more per line).
"""

import re

from ..pipeline.errors import PipelineError

START = re.compile(r"^\*\*\* ?START OF .*\n", re.MULTILINE)
END = re.compile(r"^\*\*\* ?END OF .*$", re.MULTILINE)


class CorpusError(PipelineError):
    """The corpus cannot be used as configured."""


def strip_gutenberg(text, source="corpus"):
    """The lines strictly between the `*** START OF` line and the `*** END OF` line."""
    start, end = START.search(text), END.search(text)
    if start is not None and end is not None and end.start() < start.end():
        raise CorpusError(
            f"{source}: its '*** END OF' Project Gutenberg marker line comes before its "
            "'*** START OF' line; put them in order, or set corpus.strip_gutenberg: false"
        )
    if start is None or end is None:
        missing = "'*** START OF'" if start is None else "'*** END OF'"
        raise CorpusError(
            f"{source}: no {missing} Project Gutenberg marker line; "
            "set corpus.strip_gutenberg: false for a text without them"
        )
    return text[start.end() : end.start()]


def read_corpus(path, strip):
    """The corpus as a string (UTF-8, line endings LF), stripped of Gutenberg's header and
    footer if `strip`."""
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{path}: not valid UTF-8 at byte offset {err.start} ({err.reason}); "
            "convert the text to UTF-8 (and update corpus.sha256)"
        ) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():  # empty before anything is cut: say so first
        raise CorpusError(f"{path}: the corpus text is empty; point corpus.sources at a real text")
    if strip:
        text = strip_gutenberg(text, source=str(path))
    if not text.strip():
        raise CorpusError(f"{path}: the corpus text is empty; point corpus.sources at a real text")
    return text
