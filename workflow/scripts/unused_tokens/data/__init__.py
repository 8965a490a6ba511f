"""The books and their tokens: fetching with checked hashes, reading the text, the GPT-2 tokenizer,
token counts, and the groups the experiment follows."""
