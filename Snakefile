"""unused-tokens: what training a GPT-2-like model does to rare and never-seen tokens.

download -> tokenize -> count -> groups, once per study; then for every variant and seed:
untrained probe -> train -> vocabulary probe; then aggregate over seeds -> report.
"""

import os
import re
import sys

from snakemake.io import strip_wildcard_constraints
from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, f"{workflow.basedir}/workflow/scripts")
from unused_tokens.config import validate_config
from unused_tokens.figures import FIGURES
from unused_tokens.settings import Study


configfile: "config/config.yaml"


validate_config(config, f"{workflow.basedir}/config/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    variant="|".join(re.escape(name) for name in STUDY.variants),
    seed=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/runs.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
