"""The books and their tokens: fetching with checked hashes, reading the text, the tokenizers
(GPT-2's and tiktoken's encodings, SentencePiece models), token counts, the groups the experiment
follows, and how much of a vocabulary some books use."""
