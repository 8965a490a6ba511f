"""What the runs show together: each quantity over seeds with its interval, the claims tested on
them, the weights' geometry and the detector of never-used tokens, fine-tuning's results, and the
experiment compared across tokenizers."""
