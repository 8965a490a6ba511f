"""report rule: execute the report notebook with papermill and render it to HTML."""

import json
from pathlib import Path

from unused_tokens.render import execute_notebook, to_html
from unused_tokens.stage import stage

with stage(snakemake) as log:
    i, o = snakemake.input, snakemake.output
    parameters = {
        "lib_dir": str(Path(i.lib[0]).parent.parent),
        "run_name": snakemake.params.run_name,
        "config_json": json.dumps(snakemake.params.config),
        "figures_dir": str(Path(o.training).parent),
        "frequency_path": i.frequency,
        "summary_path": i.summary,
        "groups_path": i.groups,
        "probe_groups_path": i.probe_groups,
        "probe_tokens_path": i.probe_tokens,
        "training_log_path": i.training_log,
        "vocab_logprobs_path": i.vocab_logprobs,
        "benchmarks": list(i.benchmarks),
    }
    execute_notebook(i.template, o.notebook, parameters)
    to_html(o.notebook, o.html)
    log.info("report: %s", o.html)
