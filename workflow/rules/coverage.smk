# The coverage study: how much of each tokenizer's vocabulary the books use, no training.


rule coverage:
    input:
        unpack(tokenizer_files),
        texts=coverage_texts,
    output:
        books=f"{OUT}/coverage/{{tokenizer}}/books.parquet",
        growth=f"{OUT}/coverage/{{tokenizer}}/growth.parquet",
        heaps=f"{OUT}/coverage/{{tokenizer}}/heaps.parquet",
    log:
        f"{OUT}/logs/{{tokenizer}}/coverage.log",
    benchmark:
        f"{OUT}/benchmarks/{{tokenizer}}/coverage.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        tokenizer=tokenizer_params,
        books=[(c, book(c)["title"], book(c)["strip_gutenberg"]) for c in BOOK_KEYS],
        orders=COVERAGE["orders"],
        seed=COVERAGE["seed"],
        helpers=helpers("coverage"),
    script:
        "../scripts/coverage.py"
