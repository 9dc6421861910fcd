"""Training configuration: the `train:` section of a run config.

Plain pydantic, no torch import, so the run config can be validated without loading torch.
Defaults are sized for the embedded demo: a model of ~1 M parameters that trains for a few dozen
steps on two CPU cores in seconds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trainer.presets import apply_preset


class TrainConfig(BaseModel):
    """How to train a model on one objective's shards."""

    model_config = ConfigDict(extra="forbid")

    # A named shape (trainer.presets: tiny, bert-base, gpt2-small, bart-base, t5-small,
    # electra-small) that fills in the model fields below; a field given here as well wins.
    # None: the defaults below.
    preset: str | None = None
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
    # Learned positions; 0 = the shards' seq_len. More lets one model read longer rows later
    # (BERT-base 512, GPT-2 1024); it must not be shorter than the shards' rows.
    max_len: int = Field(0, ge=0)
    # Architecture options (trainer.model.ModelConfig). The defaults are the trainer's original
    # model; the bert-base and gpt2-small presets set the values that make a model load as
    # BERT or GPT-2 in `transformers` (gristmill export).
    norm: Literal["pre", "post"] = "pre"  # pre-norm trains stably without warmup tuning
    embed_norm: bool = False  # LayerNorm over the summed embeddings (BERT)
    final_norm: bool = True  # LayerNorm after the last block; a pre-norm stack needs it
    head_transform: bool = False  # BERT's dense -> GELU -> LayerNorm before the output projection
    head_bias: bool = True  # output bias, as BERT; GPT-2 has none
    gelu: Literal["exact", "tanh"] = "exact"  # exact erf GELU; GPT-2 used the tanh approximation
    norm_eps: float = Field(1e-5, gt=0)  # torch's LayerNorm default (and GPT-2's); BERT 1e-12
    # Segment embeddings; 0 = none unless the objective needs them (nsp: 2). BERT has 2 always.
    type_vocab_size: int = Field(0, ge=0)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, else fp32
    compile: bool = False  # torch.compile; worth it on a GPU for long runs, not for the demo
    device: str = "auto"  # auto: cuda if available, else cpu
    num_workers: int = Field(0, ge=0)  # DataLoader workers; rows are memory-mapped, 0 is fine
    # Batches each worker keeps ready (with num_workers > 0). 4, twice torch's default: a batch
    # is a few hundred kB of copied rows, and a deeper queue rides out a slow read (a cold page
    # of the memory map) without the GPU waiting.
    prefetch_factor: int = Field(4, ge=1)
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
    # Metrics to TensorBoard (`<out>/tensorboard/`) as well as metrics.jsonl: None when the
    # tensorboard package is installed (it is optional), true to insist, false never.
    tensorboard: bool | None = None
    # One device's peak TFLOP/s for the MFU figure. None: the bf16 dense peak from
    # trainer.telemetry.PEAK_TFLOPS for known GPUs, and no MFU on the CPU or other devices.
    peak_tflops: float | None = Field(None, gt=0)
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

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        """A named preset's values for the fields this section does not set itself."""
        return apply_preset(data) if isinstance(data, dict) else data
