"""Gutenberg header and footer stripping, and the tokens.parquet layout."""

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unused_tokens.data.corpus import CorpusError, read_corpus, strip_gutenberg
from unused_tokens.data.tokens import encode, read_tokens, write_tokens
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import read_parquet_metadata

WRAPPED = (
    "The Project Gutenberg eBook of A Test\r\n\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK 1 ***\r\n"
    "First line.\r\nLast line.\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK 1 ***\r\nLicence text.\r\n"
)


def test_strip_keeps_exactly_the_lines_between_the_markers():
    assert strip_gutenberg(WRAPPED) == "First line.\r\nLast line.\r\n"


@pytest.mark.parametrize(
    "text, missing",
    [
        ("no markers at all", "no '\\*\\*\\* START OF'"),
        ("*** START OF X ***\nbody\n", "no '\\*\\*\\* END OF'"),
        (
            "*** END OF X ***\n*** START OF X ***\nbody\n",
            "its '\\*\\*\\* END OF' Project Gutenberg marker line comes before its "
            "'\\*\\*\\* START OF' line; put them in order, or",
        ),
    ],
)
def test_missing_markers_name_the_file_and_the_fix(tmp_path, text, missing):
    path = tmp_path / "book.txt"
    path.write_text(text)
    with pytest.raises(
        CorpusError, match=rf"^{path}: {missing}.*set corpus.strip_gutenberg: false"
    ):
        read_corpus(path, strip=True)
    assert read_corpus(path, strip=False) == text


def test_a_byte_order_mark_and_windows_line_endings_read_as_the_plain_text(tmp_path, encoding):
    windows = "*** START OF X ***\r\nFirst line.\r\nLast line.\r\n*** END OF X ***\r\n"
    path = tmp_path / "book.txt"
    path.write_bytes(b"\xef\xbb\xbf" + windows.encode())  # a byte order mark, then CR LF lines
    assert read_corpus(path, strip=True) == "First line.\nLast line.\n"  # the marker is found
    path.write_bytes(b"*** START OF X ***\rOld Mac.\r*** END OF X ***\r")
    assert read_corpus(path, strip=True) == "Old Mac.\n"
    crlf, lf = (
        encode("First line.\r\nLast line.\r\n", encoding),
        encode("First line.\nLast line.\n", encoding),
    )
    assert len(crlf) == len(lf) + 2  # what normalising saves: one token per line


def test_invalid_utf8_names_the_byte_offset(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes("Lilliput é ".encode() + b"\xff\xfe rest")
    with pytest.raises(CorpusError, match=rf"^{path}: not valid UTF-8 at byte offset 12 "):
        read_corpus(path, strip=False)


@pytest.mark.parametrize(
    "text, strip",
    [
        ("*** START OF X ***\n\n  \n*** END OF X ***\n", True),  # nothing between the markers
        (" \n", False),
        ("", True),  # an empty file is empty first, not a file without markers
    ],
)
def test_empty_text_is_refused(tmp_path, text, strip):
    path = tmp_path / "book.txt"
    path.write_text(text)
    with pytest.raises(CorpusError, match=rf"^{path}: the corpus text is empty; "):
        read_corpus(path, strip=strip)


@pytest.mark.book
def test_real_book_body_and_token_count(book, encoding):
    body = read_corpus(book, strip=True)
    assert len(body) == 582_417  # as stated by the mirror's README
    ids = encode(body, encoding)
    assert ids.dtype == np.uint16
    assert len(ids) == 143_695


def test_tokens_parquet_schema_and_metadata(tmp_path, encoding):
    text = "A voyage to Lilliput. A voyage to Brobdingnag."
    ids = encode(text, encoding)
    path = tmp_path / "tokens.parquet"
    write_tokens(ids, path, encoding, hashlib.sha256(text.encode()).hexdigest())
    assert pq.read_schema(path).remove_metadata() == schemas.tokens("uint16")
    assert pq.read_schema(path).field("token_id").type == pa.uint16()
    assert read_parquet_metadata(path) == {
        "encoding": "gpt2",
        "n_vocab": "50257",
        "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    assert read_tokens(path).tolist() == encoding.encode_ordinary(text)
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.parquet"]  # no temp file left


def test_special_token_text_is_encoded_as_ordinary_text(encoding):
    assert 50256 not in encode("<|endoftext|>", encoding).tolist()
