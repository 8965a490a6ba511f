localrules:
    download_corpus,
    download_tokenizer,


rule download_corpus:
    input:
        lib=lib("scripts/download_corpus.py"),
    output:
        text=f"{OUT}/data/corpus.txt",
        provenance=f"{OUT}/data/corpus.provenance.json",
    log:
        f"{OUT}/logs/download_corpus.log",
    benchmark:
        f"{OUT}/benchmarks/download_corpus.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        sources=config["corpus"]["sources"],
        sha256=config["corpus"]["sha256"],
    script:
        "../scripts/download_corpus.py"


rule download_tokenizer:
    input:
        lib=lib("scripts/download_tokenizer.py"),
    output:
        vocab_bpe=f"{OUT}/data/tokenizer/vocab.bpe",
        encoder_json=f"{OUT}/data/tokenizer/encoder.json",
        provenance=f"{OUT}/data/tokenizer/provenance.json",
    log:
        f"{OUT}/logs/download_tokenizer.log",
    benchmark:
        f"{OUT}/benchmarks/download_tokenizer.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        sources=config["tokenizer"]["sources"],
        vocab_bpe_sha256=config["tokenizer"]["vocab_bpe_sha256"],
        encoder_json_sha256=config["tokenizer"]["encoder_json_sha256"],
    script:
        "../scripts/download_tokenizer.py"


rule tokenize:
    input:
        text=rules.download_corpus.output.text,
        vocab_bpe=rules.download_tokenizer.output.vocab_bpe,
        encoder_json=rules.download_tokenizer.output.encoder_json,
        lib=lib("scripts/tokenize_corpus.py"),
    output:
        tokens=f"{OUT}/data/tokens.parquet",
    log:
        f"{OUT}/logs/tokenize.log",
    benchmark:
        f"{OUT}/benchmarks/tokenize.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        strip_gutenberg=config["corpus"]["strip_gutenberg"],
        vocab_bpe_sha256=config["tokenizer"]["vocab_bpe_sha256"],
        encoder_json_sha256=config["tokenizer"]["encoder_json_sha256"],
    script:
        "../scripts/tokenize_corpus.py"


rule count_tokens:
    input:
        tokens=rules.tokenize.output.tokens,
        vocab_bpe=rules.download_tokenizer.output.vocab_bpe,
        encoder_json=rules.download_tokenizer.output.encoder_json,
        lib=lib("scripts/count_tokens.py"),
    output:
        frequency=f"{OUT}/data/frequency.parquet",
        summary=f"{OUT}/data/frequency_summary.parquet",
    log:
        f"{OUT}/logs/count_tokens.log",
    benchmark:
        f"{OUT}/benchmarks/count_tokens.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        vocab_bpe_sha256=config["tokenizer"]["vocab_bpe_sha256"],
        encoder_json_sha256=config["tokenizer"]["encoder_json_sha256"],
        makers=makers,
    script:
        "../scripts/count_tokens.py"


rule select_groups:
    input:
        frequency=rules.count_tokens.output.frequency,
        lib=lib("scripts/select_groups.py"),
    output:
        groups=f"{OUT}/data/groups.parquet",
    log:
        f"{OUT}/logs/select_groups.log",
    benchmark:
        f"{OUT}/benchmarks/select_groups.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        size=config["groups"]["size"],
        seed=config["groups"]["seed"],
        makers=makers,
    script:
        "../scripts/select_groups.py"
