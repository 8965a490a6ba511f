"""The GPT-2-like network (gpt), the output head that takes the loss and the group probes without
the full log-softmax (head), and the model's vocabulary."""
