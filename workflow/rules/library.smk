# One stamp per stage script: the helper modules it imports, as one input of its rule.


rule library:
    input:
        stage_modules,
    output:
        LIBRARY,
    log:
        f"{OUT}/logs/{{stage}}/library.log",
    benchmark:
        f"{OUT}/benchmarks/{{stage}}/library.tsv"
    localrule: True
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/library.py"
