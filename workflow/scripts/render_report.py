"""report rule: execute the report notebook with papermill and render it to HTML."""

from pathlib import Path

from unused_tokens.render import execute_notebook, to_html
from unused_tokens.stage import stage

with stage(snakemake) as log:
    i = snakemake.input
    parameters = {
        "lib_dir": str(Path(i.lib[0]).parent.parent),
        "summary_path": i.summary,
        "groups_path": i.groups,
        "probe_groups_path": i.probe_groups,
        "training_log_path": i.training_log,
        "run_name": snakemake.params.run_name,
        "figures_dir": str(Path(snakemake.output.training_figure).parent),
    }
    execute_notebook(i.template, snakemake.output.notebook, parameters)
    to_html(snakemake.output.notebook, snakemake.output.html)
    log.info("report: %s", snakemake.output.html)
