"""What a cluster job asks for beyond its rule: the GPU jobs' partition and model from the
environment, and one warning, before any job is sent, for each variable a profile needs but the
environment lacks (profiles/slurm reads them; Snakemake passes an unset one on as its literal
"$NAME"). Read while the workflow is parsed: no torch."""

import re

GPU_PARTITION = "UNUSED_TOKENS_GPU_PARTITION"
GPU_MODEL = "UNUSED_TOKENS_GPU_MODEL"
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def gpu_resources(environ):
    """The cluster resources of a GPU job that the environment sets: its partition and its GPU
    model, where given."""
    named = (("slurm_partition", GPU_PARTITION), ("gpu_model", GPU_MODEL))
    return {resource: environ[variable] for resource, variable in named if environ.get(variable)}


def unset_variables(default_resources, environ):
    """One warning line, or None: the variables that the `default_resources` (name=value
    strings, as the profile gives them, before Snakemake expands them) name but `environ` does
    not set, and the GPU partition where the default resources name a partition but the
    environment names none for GPU jobs."""
    named = {name for arg in default_resources for name in VARIABLE.findall(arg.partition("=")[2])}
    unset = sorted(name for name in named if not environ.get(name))
    parts = []
    if unset:
        parts.append(
            f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set, so the "
            f"profile passes {' and '.join(f'${name}' for name in unset)} on to the scheduler as "
            "written"
        )
    partitioned = any(arg.startswith("slurm_partition=") for arg in default_resources)
    if partitioned and not environ.get(GPU_PARTITION):
        parts.append(
            f"{GPU_PARTITION} is not set, so the train and finetune jobs ask for a GPU in the "
            "profile's default partition, the CPU one"
        )
    if not parts:
        return None
    return f"warning: {'; '.join(parts)}: export them before running (docs/cluster.md)"
