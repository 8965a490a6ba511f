"""report rule: execute the report notebook with papermill and render it to HTML."""

import json
from pathlib import Path

import unused_tokens
from unused_tokens.pipeline.stage import stage
from unused_tokens.report.render import execute_notebook, to_html

with stage(snakemake) as log:
    i, o, p = snakemake.input, snakemake.output, snakemake.params
    parameters = {
        "lib_dir": str(Path(unused_tokens.__file__).parent.parent),
        "study": p.study,
        "experiment_json": json.dumps(p.experiment),
        "runs": [list(run) for run in p.runs],
        "figures_dir": p.figures,
        "frequency_path": i.frequency,
        "summary_path": i.summary,
        "groups_path": i.groups,
        "steps_path": i.steps,
        "endpoints_path": i.endpoints,
        "measures_path": i.measures,
        "final_path": i.final,
        "differences_path": i.differences,
        "claims_path": i.claims,
        "training_log_paths": list(i.logs),
        "probe_groups_paths": list(i.probe_groups),
        "probe_tokens_paths": list(i.probe_tokens),
        "vocab_paths": list(i.vocab),
        "control_paths": list(i.control),
        "weights_geometry_path": i.weights_geometry,
        "weights_detection_path": i.weights_detection,
        "weights_features_paths": list(i.weights_features),
        "benchmarks": list(i.benchmarks),
        "finetune_json": json.dumps(p.finetune),
        **{f"{name}_path": path for name, path in i.items() if name.startswith("finetune_")},
    }
    execute_notebook(i.template, o.notebook, parameters)
    to_html(o.notebook, o.html, f"{p.study}: what training does to rare and never-used tokens")
    log.info("report: %s", o.html)
