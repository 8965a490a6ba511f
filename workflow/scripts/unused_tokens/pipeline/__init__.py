"""What the workflow itself needs: the config, its reference page and the typed values read from
it (the study and its runs, the model's shape, a training step's switches), the names and Parquet
schemas every table shares, atomic files, one-line errors, a stage's logging and helper modules,
the plan of the training still to do, and what a cluster job asks for. The ground floor: it
imports no other room, and the Snakefile imports it while parsing."""
