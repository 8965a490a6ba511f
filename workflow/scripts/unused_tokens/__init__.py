"""unused-tokens: what training does to rare and never-seen tokens of a GPT-2-like model.

Each module holds the plain, tested functions behind one pipeline stage; the scripts in
workflow/scripts only read Snakemake's inputs and call them.
"""
