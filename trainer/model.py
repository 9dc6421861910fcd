"""The trainer's one model family: a small pre-norm transformer with a tied LM head.

Token + learned position embeddings, `n_layers` pre-norm blocks (attention through
`torch.nn.functional.scaled_dot_product_attention`, then a GELU MLP), a final LayerNorm and an
output head whose weight is the token embedding. `causal=False` gives a BERT-style encoder
(the "encoder" family); `causal=True` masks future positions (the "decoder" family). Keys that
`attention_mask` marks 0 (by default, those equal to `pad_id`) are masked out of attention; given
`position_ids`, a row is read as packed documents that each start where the position is 0:
positions come from them, and no token attends to another document (a block-diagonal mask).

`forward(input_ids)` returns logits; `forward(input_ids, labels)` returns the mean cross-entropy
over positions whose label is not `ignore_index`, projecting only those positions onto the
vocabulary (about 15% of them for MLM), which saves most of the head's work. Objectives
(trainer.objectives) pick the family and the heads (`HEADS`) they need.

The "nsp" head is BERT's: segment embeddings (`token_type_ids`) added to the input, and a pooler
(the first token's final hidden state -> dense -> tanh) feeding a classifier over `n_classes`;
`forward(..., next_sentence_label=...)` then returns both losses, LM and classification.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: The heads this model family provides, each with the `ModelConfig` fields it sets: "lm", the
#: vocabulary projection tied to the embedding; "nsp", BERT's two segments (A, B) and a pooler +
#: 2-way classifier (is B the next segment / are the segments in order).
HEAD_SETTINGS: dict[str, dict[str, int]] = {
    "lm": {},
    "nsp": {"type_vocab_size": 2, "n_classes": 2},
}
HEADS = frozenset(HEAD_SETTINGS)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a TransformerLM; plain ints/floats/bools so it can ride in a checkpoint."""

    vocab_size: int
    max_len: int  # learned positions; the shards' seq_len
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    pad_id: int = 0
    ignore_index: int = -100
    causal: bool = False
    # Segment embeddings (BERT: 2, A and B); 0 = none, the model ignores token_type_ids.
    type_vocab_size: int = 0
    # Classes of the pooler's classifier (BERT's NSP: 2); 0 = no pooler and no classifier.
    n_classes: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.vocab_size < 1 or self.max_len < 1:
            raise ValueError("vocab_size and max_len must be positive")

    def to_dict(self) -> dict[str, int | float | bool]:
        return asdict(self)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = (
            self.qkv(x).view(batch, length, 3, self.n_heads, width // self.n_heads).unbind(dim=2)
        )
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            nn.GELU(),
            nn.Linear(cfg.d_ff, cfg.d_model),
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), mask))
        return x + self.drop(self.mlp(self.ln2(x)))


class TransformerLM(nn.Module):
    """Embeddings -> pre-norm blocks -> LayerNorm -> head tied to the token embedding."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        # The head's weight is tok_emb.weight (used through F.linear); only its bias is its own.
        self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.type_emb = (
            nn.Embedding(cfg.type_vocab_size, cfg.d_model) if cfg.type_vocab_size else None
        )
        self.pooler = nn.Linear(cfg.d_model, cfg.d_model) if cfg.n_classes else None
        self.classifier = nn.Linear(cfg.d_model, cfg.n_classes) if cfg.n_classes else None
        self.apply(self._init_weights)
        # GPT-2's scaled init for the projections that write into the residual stream.
        for block in self.blocks:
            for proj in (block.attn.out, block.mlp[2]):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def attention_mask(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Boolean SDPA mask (True = may attend), (batch, 1, T, T): keys that `attention_mask`
        keeps (default: non-pad), only earlier ones if causal, and, given `position_ids`, only
        keys of the query's own document (a document starts where its position is 0).

        Every query may attend to itself, so a query never has all keys masked (which would make
        SDPA return NaN), e.g. an all-padding row.
        """
        length = input_ids.shape[1]
        keep = input_ids != self.cfg.pad_id if attention_mask is None else attention_mask.bool()
        keys = keep[:, None, None, :]  # (B, 1, 1, T)
        eye = torch.eye(length, dtype=torch.bool, device=input_ids.device)
        if self.cfg.causal:
            keys = keys & torch.ones_like(eye).tril()
        if position_ids is not None:
            document = torch.cumsum(position_ids == 0, dim=1)  # (B, T)
            keys = keys & (document[:, :, None] == document[:, None, :])[:, None]
        return keys | eye

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final-LayerNorm hidden states, (batch, length, d_model)."""
        length = input_ids.shape[1]
        if length > self.cfg.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.cfg.max_len}")
        positions = (
            torch.arange(length, device=input_ids.device) if position_ids is None else position_ids
        )
        x = self.tok_emb(input_ids) + self.pos_emb(positions)
        if self.type_emb is not None:
            segments = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            x = x + self.type_emb(segments)
        x = self.drop(x)
        mask = self.attention_mask(input_ids, attention_mask, position_ids)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.tok_emb.weight, self.head_bias)

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        """The classifier's logits (batch, n_classes) from the pooled first token."""
        if self.pooler is None or self.classifier is None:
            raise ValueError("this model has no classification head (n_classes is 0)")
        return self.classifier(torch.tanh(self.pooler(hidden[:, 0])))

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (batch, length, vocab) without labels; with labels, the mean loss (scalar);
        with `next_sentence_label` too, a (2,) tensor: that loss and the classifier's mean
        cross-entropy against `next_sentence_label` (one pass, so wrappers such as DDP see one
        forward).

        The loss is cross-entropy of each position's logits against its own label, over
        positions whose label is not `ignore_index`, computed in fp32 (a causal objective passes
        labels already shifted). A batch with no such position gives 0 (with a zero gradient),
        not NaN.
        """
        hidden = self.hidden(input_ids, attention_mask, position_ids, token_type_ids)
        if labels is None:
            return self.logits(hidden)
        labels = labels.long()
        take = labels != self.cfg.ignore_index
        logits = self.logits(hidden[take]).float()
        total = F.cross_entropy(
            logits, labels[take], ignore_index=self.cfg.ignore_index, reduction="sum"
        )
        lm_loss = total / take.sum().clamp(min=1)
        if next_sentence_label is None:
            return lm_loss
        class_loss = F.cross_entropy(self.classify(hidden).float(), next_sentence_label.long())
        return torch.stack([lm_loss, class_loss])


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of distinct parameters (the tied embedding/head weight counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
