# The coverage study: how much of each tokenizer's vocabulary the books use, no training.


localrules:
    download_tiktoken,


rule download_tiktoken:
    input:
        lib=lib("download_tiktoken"),
    output:
        ranks=f"{OUT}/data/tokenizers/{{tiktoken}}.tiktoken",
        provenance=f"{OUT}/data/tokenizers/{{tiktoken}}.provenance.json",
    log:
        f"{OUT}/logs/download_tiktoken/{{tiktoken}}.log",
    benchmark:
        f"{OUT}/benchmarks/download_tiktoken/{{tiktoken}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        sources=lambda w: COVERAGE["tokenizers"][w.tiktoken]["sources"],
        sha256=lambda w: COVERAGE["tokenizers"][w.tiktoken]["sha256"],
        key=lambda w: f"coverage.tokenizers.{w.tiktoken}.sources",
    script:
        "../scripts/download_tiktoken.py"


rule coverage:
    input:
        unpack(coverage_inputs),
        lib=lib("coverage"),
    output:
        books=f"{OUT}/coverage/{{tokenizer}}/books.parquet",
        growth=f"{OUT}/coverage/{{tokenizer}}/growth.parquet",
        heaps=f"{OUT}/coverage/{{tokenizer}}/heaps.parquet",
    log:
        f"{OUT}/logs/coverage/{{tokenizer}}.log",
    benchmark:
        f"{OUT}/benchmarks/coverage/{{tokenizer}}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        tokenizer=coverage_tokenizer,
        books=[(book(c)["title"], book(c)["strip_gutenberg"]) for c in BOOK_KEYS],
        orders=COVERAGE["orders"],
        seed=COVERAGE["seed"],
    script:
        "../scripts/coverage.py"
