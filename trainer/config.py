"""Training configuration: the `train:` section of a run config.

Plain pydantic, no torch import, so the run config can be validated without loading torch.
Defaults are sized for the embedded demo: a model of ~1 M parameters that trains for a few dozen
steps on two CPU cores in seconds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TrainConfig(BaseModel):
    """How to train a model on one objective's shards."""

    model_config = ConfigDict(extra="forbid")

    objective: str = "mlm"  # which shards/<objective>/ to read (`objectives` mixes several)
    steps: int = Field(40, ge=1)  # optimizer steps; the demo needs only enough to see loss fall
    batch_size: int = Field(16, ge=1)  # sequences per micro-batch
    grad_accum: int = Field(1, ge=1)  # micro-batches per optimizer step
    lr: float = Field(1e-3, gt=0)  # peak LR; 1e-3 suits a tiny model (BERT-base used 1e-4)
    warmup_steps: int = Field(4, ge=0)  # linear warmup, then cosine decay to min_lr_ratio * lr
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)  # BERT's value
    betas: tuple[float, float] = (0.9, 0.98)  # RoBERTa's betas, stabler than 0.999 at small batch
    grad_clip: float = Field(1.0, ge=0)  # max global grad norm; 0 disables
    d_model: int = Field(128, ge=8)
    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(4, ge=1)
    d_ff: int = Field(512, ge=8)  # 4 x d_model as in BERT
    dropout: float = Field(0.0, ge=0, lt=1)  # no dropout for short runs
    # ELECTRA (`rtd`): the generator's width, heads and feed-forward size as a fraction of the
    # model's. 1/4, ELECTRA's released setting; the paper finds 1/4 to 1/2 works best (Clark et
    # al. 2020, fig. 3), a larger generator making the discriminator's task too hard.
    generator_fraction: float = Field(0.25, gt=0, le=1)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, else fp32
    compile: bool = False  # torch.compile; worth it on a GPU for long runs, not for the demo
    device: str = "auto"  # auto: cuda if available, else cpu
    num_workers: int = Field(0, ge=0)  # DataLoader workers; rows are memory-mapped, 0 is fine
    eval_every: int = Field(20, ge=0)  # steps between validation passes; 0 = only at the end
    eval_batches: int = Field(8, ge=1)
    # Steps between periodic checkpoints (0 = only the final one). A crash loses at most this many
    # steps: 500 is about a minute for the demo-sized model on two CPU cores (~0.12 s a step) and
    # by estimate (not measured here) a few minutes for a model ten times larger there or a
    # ~100 M-parameter one on one GPU (~0.3 s a step). Writing one costs ~12 bytes a parameter
    # (weights and AdamW's two moments, fp32): ~1.2 GB at 100 M parameters.
    checkpoint_every: int = Field(500, ge=0)
    # Periodic checkpoints kept besides the final checkpoint.pt: two, so that if the newest is
    # unreadable a resume falls back to the one before it rather than to step 0.
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(5, ge=1)
    seed: int = 1234
    # Several objectives on one shared network (UniLM, Dong et al. 2019): name -> weight, e.g.
    # {mlm: 1.0, clm: 1.0}. Each step trains one objective, drawn by weight from (seed, step);
    # each reads shards/<its shards>/. None: `objective` alone. Equal weights are UniLM's
    # setting (its three masks each a third of the time).
    objectives: dict[str, float] | None = None
    # How a run under torchrun spreads the model: "ddp" replicates it (DistributedDataParallel),
    # "fsdp" shards parameters, gradients and optimizer state (FSDP2's fully_shard). DDP is the
    # default: the models trained here fit one device, where replication communicates least.
    parallel: Literal["ddp", "fsdp"] = "ddp"

    @field_validator("objectives")
    @classmethod
    def _weights_positive(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            if not value:
                raise ValueError("objectives: name at least one objective")
            bad = {k: w for k, w in value.items() if not w > 0}
            if bad:
                raise ValueError(f"objectives: weights must be > 0, got {bad}")
        return value

    def mix(self) -> dict[str, float]:
        """The objectives this run trains, with their weights (`objective` alone if unmixed)."""
        return dict(self.objectives) if self.objectives else {self.objective: 1.0}
