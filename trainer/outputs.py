"""The files a training run writes in its output folder (torch-free, so the pipeline's run
directory names them without importing torch)."""

from __future__ import annotations

#: the model, optimiser, scheduler and sampler state at the end of training
CHECKPOINT_NAME = "checkpoint.pt"
#: one JSON object per logged step
METRICS_NAME = "metrics.jsonl"
#: periodic checkpoints, `step-NNNNNNNN.pt`, the newest `train.keep_checkpoints` of them
PERIODIC_DIR = "checkpoints"
