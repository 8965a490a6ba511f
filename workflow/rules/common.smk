OUT = f"results/{config['run_name']}"
LIB = f"{workflow.basedir}/workflow/scripts/unused_tokens"


def lib(*modules):
    """The helper modules a stage script imports: inputs, so that editing one reruns the stage."""
    return [f"{LIB}/{m}.py" for m in ("__init__", "errors", "files", "stage", *modules)]
