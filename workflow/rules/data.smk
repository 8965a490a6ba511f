localrules:
    download_corpus,
    download_tokenizer,
    download_added_tokenizer,


rule download_corpus:
    output:
        text=f"{BOOK}/corpus.txt",
        provenance=f"{BOOK}/corpus.provenance.json",
    log:
        f"{OUT}/logs/{{corpus}}/download_corpus.log",
    benchmark:
        f"{OUT}/benchmarks/{{corpus}}/download_corpus.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        sources=lambda w: book(w.corpus)["sources"],
        sha256=lambda w: book(w.corpus)["sha256"],
        key=lambda w: f"{BOOK_KEYS[w.corpus]}.sources",
        helpers=helpers("download_corpus"),
    script:
        "../scripts/download_corpus.py"


rule download_tokenizer:
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
        helpers=helpers("download_tokenizer"),
    script:
        "../scripts/download_tokenizer.py"


rule download_added_tokenizer:
    output:
        model=f"{OUT}/data/tokenizers/{{added}}.model",
        provenance=f"{OUT}/data/tokenizers/{{added}}.provenance.json",
    log:
        f"{OUT}/logs/{{added}}/download_added_tokenizer.log",
    benchmark:
        f"{OUT}/benchmarks/{{added}}/download_added_tokenizer.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        sources=lambda w: config["tokenizers"][w.added]["sources"],
        sha256=lambda w: config["tokenizers"][w.added]["sha256"],
        key=lambda w: f"tokenizers.{w.added}.sources",
        helpers=helpers("download_added_tokenizer"),
    script:
        "../scripts/download_added_tokenizer.py"


rule tokenize_corpus:
    input:
        unpack(tokenizer_files),
        text=rules.download_corpus.output.text,
    output:
        tokens=f"{DATA}/tokens.parquet",
        held_out=f"{DATA}/held_out.parquet",
    log:
        f"{OUT}/logs/{{corpus}}/{{tokenizer}}/tokenize_corpus.log",
    benchmark:
        f"{OUT}/benchmarks/{{corpus}}/{{tokenizer}}/tokenize_corpus.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        strip_gutenberg=lambda w: book(w.corpus)["strip_gutenberg"],
        held_out_fraction=config["held_out"]["fraction"],
        tokenizer=tokenizer_params,
        helpers=helpers("tokenize_corpus"),
    script:
        "../scripts/tokenize_corpus.py"


rule count_tokens:
    input:
        unpack(tokenizer_files),
        tokens=rules.tokenize_corpus.output.tokens,
    output:
        frequency=f"{DATA}/frequency.parquet",
        summary=f"{DATA}/frequency_summary.parquet",
    log:
        f"{OUT}/logs/{{corpus}}/{{tokenizer}}/count_tokens.log",
    benchmark:
        f"{OUT}/benchmarks/{{corpus}}/{{tokenizer}}/count_tokens.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        tokenizer=tokenizer_params,
        makers=makers,
        helpers=helpers("count_tokens"),
    script:
        "../scripts/count_tokens.py"


rule select_groups:
    input:
        frequency=pretrain(rules.count_tokens.output.frequency),
    output:
        groups=f"{OUT}/data/groups/{{tokenizer}}.parquet",
    log:
        f"{OUT}/logs/{{tokenizer}}/select_groups.log",
    benchmark:
        f"{OUT}/benchmarks/{{tokenizer}}/select_groups.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        size=config["groups"]["size"],
        seed=config["groups"]["seed"],
        makers=makers,
        helpers=helpers("select_groups"),
    script:
        "../scripts/select_groups.py"
