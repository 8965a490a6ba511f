"""One run: where it runs and in what precision, its context, random batches, the training step
with its per-step probes, the loop with progress and resumption, the train rule's job (in its
own process, or handed to a warm trainer that the study's train jobs share), the held-out slice,
the probes of a model, and how fine-tuning starts."""
