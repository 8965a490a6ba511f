"""The names the rules, the tables and the report share: the groups, the baseline variant, the
books, the fine-tuning arms, the Magikarp indicators and the size overlays. Read while the
workflow is parsed."""

GROUP_NAMES = ("most_common", "least_common", "never_used")
NEW_GROUP = "new_in_finetune"  # the second book's most frequent tokens the first never uses
FINETUNE_GROUP_NAMES = (*GROUP_NAMES, NEW_GROUP)
GROUP_LABELS = {g: g.replace("_", " ") for g in FINETUNE_GROUP_NAMES}  # in tables and figures
BASELINE_VARIANT = "baseline"  # every other variant is compared with it, seed by seed
CORPORA = ("pretrain", "finetune")  # the books: data/<corpus>/, each from its config section
GPT2 = "gpt2"  # the study's first tokenizer (the tokenizer section); `tokenizers` adds others
ARMS = ("pretrained", "pretrained_reset", "fresh")  # how fine-tuning starts (finetune.py)
ARM_LABELS = dict(  # in tables and figures
    zip(ARMS, ("pretrained", "pretrained, unseen rows reset", "fresh (untrained)"), strict=True)
)
HELD_OUT_LABELS = {  # fine-tuning's held-out losses, in tables
    "held_out_new_loss": "held-out loss on the new tokens",
    "held_out_other_loss": "held-out loss on the other targets",
}
# weights.magikarp_scores, each a column of schemas.WEIGHT_FEATURES: higher looks more like the
# reference rows
MAGIKARP_INDICATORS = (
    "magikarp_cosine",  # cosine with the reference rows' mean (Magikarp's default for GPT-2)
    "magikarp_centred",  # the same after subtracting the mean row from every row
    "magikarp_without_pc1",  # the same after removing the first principal component
    "magikarp_l2",  # minus the L2 distance to the reference rows' mean
)
# The overlays that set the model's size: each names its study only where no other overlay does
# (config.study_named), so that their order among the others changes nothing.
QUICK_OVERLAY = "config/smoke.yaml"  # the quick version the CPU guard suggests
SIZE_OVERLAYS = (QUICK_OVERLAY, "config/medium.yaml")
