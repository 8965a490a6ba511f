"""probe_vocab rule: every token's mean log-probability, mean logit (their difference is the
normaliser, logsumexp) and mean log-probability renormalised over the corpus's ids, before and
after a run's training, and
the masking control: the trained model's group means against a context-free unigram
predictor's, on the same probe batches."""

import pandas as pd

from unused_tokens.model.gpt import load_model
from unused_tokens.pipeline import schemas
from unused_tokens.pipeline.files import write_parquet
from unused_tokens.pipeline.stage import stage
from unused_tokens.pipeline.study import ProbeSettings
from unused_tokens.training.probe import masking_control, vocab_means
from unused_tokens.training.run_context import run_context

with stage(snakemake) as log:
    context = run_context(snakemake, log, probe=True)
    probe = ProbeSettings(**snakemake.params.probe)
    models = {"untrained": context.untrained_model(), "trained": load_model(snakemake.input.model)}
    table = pd.DataFrame({"token_id": range(context.vocabulary.size)})
    for name, model in models.items():
        means = vocab_means(
            model, context.tokens, probe, context.precision, context.counts, context.device
        )
        table[f"{name}_mean"] = context.vocabulary.decode(means.log_probs)  # NaN: no index
        table[f"{name}_logit"] = context.vocabulary.decode(means.logits)
        table[f"{name}_within_corpus"] = context.vocabulary.decode(means.within_corpus)
    write_parquet(table, snakemake.output.logprobs, schemas.VOCAB_LOGPROBS, context.metadata())
    control = masking_control(
        models["trained"],
        context.tokens,
        context.groups(snakemake.input.groups),
        probe,
        context.precision,
        context.counts,
        context.device,
    )
    write_parquet(control, snakemake.output.control, schemas.MASKING_CONTROL, context.metadata())
    log.info("masking control:\n%s", control.to_string(index=False))
    log.info("vocabulary probe: %s", table[["untrained_mean", "trained_mean"]].describe().T)
