"""Tokenizers from local, hash-checked files: GPT-2's vocab.bpe and encoder.json and tiktoken's own
.tiktoken encodings (cl100k_base), both built by tiktoken, SentencePiece models (Mistral's
32,000-id vocabulary) and Mistral's tekken JSON (a byte-level BPE of 131,072 ids that
mistral-common builds on tiktoken). `load_tokenizer` loads any of them from what
pipeline.config's `tokenizer_spec` reads of the config.

tiktoken would download these two files at first use; the pipeline fetches them as ordinary
inputs instead (see fetch.py) and loads tiktoken's `gpt2` encoding from them with no network,
and without tiktoken's cache, which would leave a copy of each file in the system's temporary
folder for every path it was read from.
"""

import contextlib
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import sentencepiece
import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext import openai_public
from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str

from ..pipeline.errors import PipelineError
from ..pipeline.files import sha256_of
from ..pipeline.names import GPT2

GPT2_N_VOCAB = 50257
# tiktoken's own sha256 values of the `gpt2` files (a test checks them against tiktoken's code):
# files with other values give a non-standard vocabulary, which is never labelled gpt2.
GPT2_SHA256 = (
    "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",  # vocab.bpe
    "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",  # encoder.json
)
# The published sha256 of each SentencePiece model the pipeline knows by name: a file of another
# hash configured under one of these names is named non-standard. mistral_v1: the tokenizer.model
# of Mistral 7B v0.1 (and Mixtral), the copy the mistral-common package ships as
# data/tokenizer.model.v1.
SENTENCEPIECE_SHA256 = {
    "mistral_v1": "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055",
}
# tekken: Mistral NeMo's tekken.json of 2024-09-11, as mistral-common 1.9.1 ships it
# (data/tekken_240911.json); a file of another hash under this name is named non-standard.
TEKKEN_SHA256 = {
    "tekken": "1948e2d48b0e7377f1bb5f1210f1ae5f984934e75713fc07e2452729b8365316",
}

log = logging.getLogger(__name__)


def vocabulary_name(vocab_bpe_sha256, encoder_json_sha256):
    """ "gpt2" for tiktoken's own files, else a name that says the vocabulary is non-standard."""
    if (vocab_bpe_sha256, encoder_json_sha256) == GPT2_SHA256:
        return GPT2
    return (
        f"non-standard (vocab.bpe {vocab_bpe_sha256[:12]}, encoder.json {encoder_json_sha256[:12]})"
    )


def load_gpt2(vocab_bpe, encoder_json, vocab_bpe_sha256, encoder_json_sha256):
    """A GPT-2 Encoding from local files, each checked against its sha256 first; named "gpt2"
    only when the hashes are tiktoken's own (vocabulary_name), else logged as non-standard."""
    for path, expected in ((vocab_bpe, vocab_bpe_sha256), (encoder_json, encoder_json_sha256)):
        _check_sha256(path, expected, "download_tokenizer")
    name = vocabulary_name(vocab_bpe_sha256, encoder_json_sha256)
    try:
        with _no_tiktoken_cache():
            ranks = data_gym_to_mergeable_bpe_ranks(
                vocab_bpe_file=str(vocab_bpe),
                encoder_json_file=str(encoder_json),
                vocab_bpe_hash=vocab_bpe_sha256,
                encoder_json_hash=encoder_json_sha256,
            )
        encoding = tiktoken.Encoding(
            name=name,
            pat_str=r50k_pat_str,
            mergeable_ranks=ranks,
            special_tokens={ENDOFTEXT: GPT2_N_VOCAB - 1},
            explicit_n_vocab=GPT2_N_VOCAB,
        )
    except Exception as err:
        reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise PipelineError(
            f"{vocab_bpe} and {encoder_json} have the configured sha256 values but are not a "
            f"GPT-2 BPE vocabulary of {GPT2_N_VOCAB} ids ({reason}); point tokenizer.sources at "
            "GPT-2's files and tokenizer.*_sha256 at their hashes"
        ) from err
    if name != GPT2:
        log.warning("the tokenizer files are not tiktoken's gpt2 files: the vocabulary is %s", name)
    return encoding


def load_tokenizer(spec, files):
    """The tokenizer of `spec` (the name, format and sha256 values, as pipeline.config's
    tokenizer_spec gives them) from its local `files` (vocab_bpe and encoder_json for GPT-2's,
    else model)."""
    if spec["format"] == GPT2:
        return load_gpt2(
            files.vocab_bpe,
            files.encoder_json,
            spec["vocab_bpe_sha256"],
            spec["encoder_json_sha256"],
        )
    return LOADERS[spec["format"]](spec["name"], files.model, spec["sha256"])


def _check_sha256(path, expected, rule="download_added_tokenizer"):
    """Refuse a tokenizer file whose sha256 is not `expected`, naming the `rule` that fetches it."""
    if (got := sha256_of(path)) != expected:
        raise PipelineError(
            f"{path}: sha256 {got} is not the expected {expected}; delete it and rerun the "
            f"{rule} rule"
        )


def load_tiktoken(name, ranks_file, sha256):
    """One of tiktoken's own encodings in its .tiktoken format (cl100k_base, o200k_base) from a
    local file checked against its configured `sha256`. tiktoken's constructor of `name` gives
    the pattern, the special tokens and the name, and checks the file against its own sha256:
    a file that passes ours but not tiktoken's is refused, never given the standard name."""
    _check_sha256(ranks_file, sha256)
    constructor = openai_public.ENCODING_CONSTRUCTORS.get(name)
    if constructor is None:
        known = ", ".join(sorted(openai_public.ENCODING_CONSTRUCTORS))
        raise PipelineError(f"{name!r} is not one of tiktoken's encodings ({known})")
    loader = openai_public.load_tiktoken_bpe

    def local_copy(_url, expected_hash):
        """The constructor names its file by URL: read the local copy instead (tiktoken checks
        no hash where it caches nothing, so the check is here)."""
        if sha256 != expected_hash:
            raise ValueError(f"sha256 {sha256}, tiktoken's is {expected_hash}")
        return loader(str(ranks_file))

    openai_public.load_tiktoken_bpe = local_copy
    try:
        with _no_tiktoken_cache():
            spec = constructor()
    except ValueError as err:
        raise PipelineError(
            f"{ranks_file} is not tiktoken's {name} file ({err}); point its source at "
            f"tiktoken's {name}.tiktoken and its sha256 at that file's hash"
        ) from err
    finally:
        openai_public.load_tiktoken_bpe = loader
    return tiktoken.Encoding(**spec)


@dataclass(frozen=True)
class PieceTokenizer:
    """A SentencePiece model or a tekken vocabulary with the part of tiktoken's Encoding the
    pipeline uses: name, n_vocab (every id, the control or special ids included) and
    encode_ordinary (no <s> or </s> added: ordinary text never uses them)."""

    name: str
    n_vocab: int
    encode_ordinary: Callable[[str], list]
    piece: Callable[[int], str]  # an id's text as its library writes it (SentencePiece: ▁)

    def pieces(self):
        """Every id's piece."""
        return [self.piece(i) for i in range(self.n_vocab)]


def load_sentencepiece(name, model_file, sha256):
    """A SentencePiece model from a local file checked against its configured `sha256`, named
    `name`, or non-standard where `name` is one of SENTENCEPIECE_SHA256's with another hash."""
    _check_sha256(model_file, sha256)
    try:
        processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
    except (RuntimeError, OSError) as err:
        raise PipelineError(
            f"{model_file} has the configured sha256 but is not a SentencePiece model ({err}); "
            f"point tokenizers.{name}.sources at a .model file and its sha256 at that file's hash"
        ) from err
    name = _checked_name(name, sha256, model_file, SENTENCEPIECE_SHA256, "published model")
    return PieceTokenizer(name, processor.get_piece_size(), processor.encode, processor.id_to_piece)


def _checked_name(name, sha256, path, known, what):
    """`name`, or "non-standard <name> (sha256 ...)" with a warning where `known` (name:
    sha256) holds the name with another hash: a file is never given a standard name it is not."""
    if known.get(name, sha256) == sha256:
        return name
    log.warning("%s is not %s's %s (sha256 %s)", path, name, what, sha256)
    return f"non-standard {name} (sha256 {sha256[:12]})"


def load_tekken(name, model_file, sha256):
    """A tekken JSON vocabulary from a local file checked against its configured `sha256`, named
    `name`, or non-standard where `name` is one of TEKKEN_SHA256's with another hash."""
    _check_sha256(model_file, sha256)
    # imported here: it takes about half a second, which only a study with tekken needs
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    try:
        tekkenizer = Tekkenizer.from_file(str(model_file))
    except Exception as err:  # mistral-common raises whatever its JSON reading meets
        raise PipelineError(
            f"{model_file} has the configured sha256 but is not a tekken vocabulary "
            f"({type(err).__name__}: {err}); point tokenizers.{name}.sources at a tekken .json "
            "file and its sha256 at that file's hash"
        ) from err
    name = _checked_name(name, sha256, model_file, TEKKEN_SHA256, "shipped file")
    encode = functools.partial(tekkenizer.encode, bos=False, eos=False)
    return PieceTokenizer(name, tekkenizer.n_words, encode, tekkenizer.id_to_piece)


LOADERS = {  # a tokenizer's format: the function that loads it (name, file, sha256)
    "tiktoken": load_tiktoken,
    "sentencepiece": load_sentencepiece,
    "tekken": load_tekken,
}


@contextlib.contextmanager
def _no_tiktoken_cache():
    """tiktoken reads files without caching them while TIKTOKEN_CACHE_DIR is empty."""
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def token_texts(encoding):
    """Readable text of every id: a SentencePiece model's or tekken's pieces; a tiktoken
    encoding's bytes as UTF-8, bytes not valid on their own shown as \\xNN, and "" for an id no
    token has (cl100k_base leaves 100256 and 100261-100275 unassigned; its model still has their
    rows)."""
    if isinstance(encoding, PieceTokenizer):
        return encoding.pieces()
    return [_token_text(encoding, i) for i in range(encoding.n_vocab)]


def _token_text(encoding, i):
    try:
        return encoding.decode_single_token_bytes(i).decode("utf-8", errors="backslashreplace")
    except KeyError:
        return ""
