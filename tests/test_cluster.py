"""pipeline/cluster.py: a GPU job's cluster resources from the environment, and the warning for
a profile's variables left unset (profiles/slurm; the whole profile: tests/test_slurm.py)."""

from unused_tokens.pipeline.cluster import gpu_resources, unset_variables

SLURM = [
    "tmpdir=system_tmpdir",
    "mem_mb=4000",
    "slurm_account=$UNUSED_TOKENS_ACCOUNT",
    "slurm_partition=$UNUSED_TOKENS_PARTITION",
]
SET = [SLURM[0], SLURM[1], "slurm_account=lab42", "slurm_partition=cpu"]


def test_a_gpu_job_takes_its_partition_and_model_from_the_environment():
    assert gpu_resources({}) == {}
    assert gpu_resources({"UNUSED_TOKENS_GPU_PARTITION": "gpu"}) == {"slurm_partition": "gpu"}
    both = {"UNUSED_TOKENS_GPU_PARTITION": "gpu", "UNUSED_TOKENS_GPU_MODEL": "a100"}
    assert gpu_resources(both) == {"slurm_partition": "gpu", "gpu_model": "a100"}


def test_every_variable_left_unset_is_named_in_one_warning():
    assert unset_variables(SLURM, {}) == (
        "warning: UNUSED_TOKENS_ACCOUNT and UNUSED_TOKENS_PARTITION are not set, so the profile "
        "passes $UNUSED_TOKENS_ACCOUNT and $UNUSED_TOKENS_PARTITION on to the scheduler as "
        "written; UNUSED_TOKENS_GPU_PARTITION is not set, so the train and finetune jobs ask "
        "for a GPU in the profile's default partition, the CPU one: export them before running "
        "(docs/cluster.md)"
    )
    assert unset_variables(SET, {}) == (
        "warning: UNUSED_TOKENS_GPU_PARTITION is not set, so the train and finetune jobs ask for "
        "a GPU in the profile's default partition, the CPU one: export them before running "
        "(docs/cluster.md)"
    )
    one = [*SET[:2], "slurm_account=${UNUSED_TOKENS_ACCOUNT}", "slurm_partition=cpu"]
    gpu = {"UNUSED_TOKENS_GPU_PARTITION": "gpu"}
    assert unset_variables(one, gpu).startswith(
        "warning: UNUSED_TOKENS_ACCOUNT is not set, so the profile passes $UNUSED_TOKENS_ACCOUNT "
        "on to the scheduler as written: export"
    )


def test_nothing_is_said_where_all_is_set_or_no_cluster_profile_is_used():
    every = {name: "x" for name in ("UNUSED_TOKENS_ACCOUNT", "UNUSED_TOKENS_PARTITION")}
    assert unset_variables(SLURM, {**every, "UNUSED_TOKENS_GPU_PARTITION": "gpu"}) is None
    assert unset_variables(SET, {"UNUSED_TOKENS_GPU_PARTITION": "gpu"}) is None
    assert unset_variables([], {}) is None  # a local run: profiles/default has no partition
