"""unused-tokens: what training does to rare and never-seen tokens of a GPT-2-like model.

The plain, tested functions behind the pipeline's stages, in rooms by concern, each room
importing only the ones listed before it:

- pipeline: what the workflow itself needs: the config and its reference, the study and its
  runs, the names and Parquet schemas every table shares, atomic files, one-line errors, a
  stage's logging and its helper modules.
- data: the books and their tokens: fetching, reading, the tokenizers (tiktoken's, SentencePiece),
  tokenizing, counting, the groups, the coverage of a vocabulary over books.
- model: the GPT-2-like network, its output head and its vocabulary.
- training: one run's device and precision, its batches, the training step with its probes,
  the loop, a train job (alone or several in one process), progress, the held-out slice and how
  fine-tuning starts.
- analysis: what the runs show over seeds: aggregates, claims, the weights' geometry and the
  detector, fine-tuning's results, the tokenizers compared.
- report: the HTML report's figures, tables, sentences and run facts.

The scripts in workflow/scripts only read Snakemake's inputs and call these functions.
"""
