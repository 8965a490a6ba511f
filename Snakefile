"""unused-tokens: what training a GPT-2-like model does to rare and never-seen tokens.

download -> tokenize -> count -> groups -> untrained probe -> train -> report
"""

import sys

from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, f"{workflow.basedir}/workflow/scripts")
from unused_tokens.config import validate_config


configfile: "config/config.yaml"


validate_config(config, f"{workflow.basedir}/config/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
        rules.train.output,
        rules.probe_untrained.output,
