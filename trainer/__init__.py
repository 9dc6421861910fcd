"""gristmill's trainer: PyTorch models trained straight from objective shards.

The trainer knows shards only through their documented format (docs/shard-format.md).
"""
