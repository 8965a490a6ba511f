"""unused-tokens: what training a GPT-2-like model does to rare and never-seen tokens.

download -> tokenize -> count -> groups, once per tokenizer (GPT-2's, then each of
`tokenizers`); then for every tokenizer, variant and seed: untrained probe -> train -> vocabulary
probe; then aggregate over seeds -> the tokenizers compared -> report. Where on, fine-tuning on a
second book (finetune.smk) and the coverage study of every tokenizer over the books, with no
training (coverage.smk).
"""

import functools
import logging
import os
import re
import sys
from pathlib import Path

import yaml

from snakemake.io import strip_wildcard_constraints
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, f"{workflow.basedir}/workflow/scripts")
from unused_tokens.pipeline.config import (
    experiment,
    study_named,
    tokenizer_spec,
    validate_config,
)
from unused_tokens.pipeline.cluster import gpu_resources, unset_variables
from unused_tokens.pipeline.files import check_writable
from unused_tokens.pipeline.modules import helper_modules, module_hashes, stage_sources
from unused_tokens.pipeline.plan import (
    Busy,
    PlannedRun,
    plan_line,
    run_kinds,
    scorings,
)
from unused_tokens.report.outline import FIGURES, drawn
from unused_tokens.pipeline.names import (
    ARMS,
    BASELINE_VARIANT,
    CORPORA,
    GPT2,
    QUICK_OVERLAY,
)
from unused_tokens.pipeline.study import Study, study_tokenizers


# The defaults sit beside this file, so the workflow runs from any directory: its outputs go
# to results/ in the working directory (-d/--directory, else where snakemake was started);
# --configfile paths are read by Snakemake before it moves to --directory.
configfile: f"{workflow.basedir}/config/config.yaml"


schema = f"{workflow.basedir}/config/config.schema.yaml"
shipped = Path(workflow.basedir, "config").resolve()  # the workflow's own overlays
validate_config(config, schema)  # also types what --config leaves as text (seeds=[0,1])
# The study's name whatever the overlays' order (a size overlay's only where no other names one)
config["study"] = study_named(
    yaml.safe_load(Path(shipped, "config.yaml").read_text()),
    [
        (
            os.path.relpath(f),
            yaml.safe_load(Path(f).read_text()),
            Path(f).resolve().parent == shipped,
        )
        for f in workflow.overwrite_configfiles
    ]
    + [("--config", workflow.config_settings.config, False)],
    schema,
)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    variant="|".join(re.escape(name) for name in STUDY.variants),
    seed=r"\d+",
    corpus="|".join(BOOK_KEYS),
    tokenizer="|".join(re.escape(name) for name in TOKENIZERS),
    added="|".join(re.escape(name) for name in ADDED) or "(?!)",
    arm="|".join(ARMS),


include: "workflow/rules/data.smk"
include: "workflow/rules/runs.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/coverage.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,


# The training still to do and its time here, before a study starts and at the end of a dry
# run, which lists each job only with -p (common.smk's DryRunPlan and DryRunListing); a cluster
# profile's variables left unset, before any job.
if workflow.is_main_process and workflow.output_settings.dryrun:
    logging.getLogger("snakemake.logging").addHandler(DryRunPlan())
    if not workflow.output_settings.printshellcmds:
        logging.getLogger("snakemake.logging").addFilter(DryRunListing())
unset = unset_variables(profile_resources(), os.environ)
if workflow.is_main_process and unset:
    print(unset, file=sys.stderr)


onstart:
    check_writable(OUT)
    print(plan())


onsuccess:
    # pandas and scipy: only once a run is done
    from unused_tokens.analysis.claims import finished

    claims = {first(rules.aggregate.output.claims): ""}
    claims |= {rules.aggregate_finetune.output.claims: ""} if FINETUNE else {}
    claims |= {rules.aggregate.output.claims.format(tokenizer=t): t for t in ADDED}
    ending = finished(rules.report.output.html, claims)
    if ending:
        print(ending)
