"""Data cards: a run's funnel, sources, tokenizer, shards and training, as JSON and Markdown."""
