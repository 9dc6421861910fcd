"""The trainer's one model family: a small pre-norm transformer with a tied LM head.

Architecture options in `ModelConfig` (norm placement, a LayerNorm on the embeddings, the final
LayerNorm, BERT's head transform, the output bias, exact or tanh GELU, LayerNorm epsilon) let the
family match BERT, GPT-2, BART or mBART exactly (the encoder-decoder needs no option of its own:
BART's layout is these options on both stacks), so trainer.export can write it as those; their
defaults are the shape described here.

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

The "rtd" head is ELECTRA's replaced-token detection (Clark et al. 2020): a generator, a
narrower encoder (`generator_fraction` of the width, heads and feed-forward size) reading the
same token and position embeddings, predicts the masked positions; its samples replace them;
the model itself, as discriminator, then predicts at every attended position whether the token
there was replaced (a token-level binary classifier). `forward(..., rtd_uniform=...)` does all
of it in one pass and returns the generator's MLM loss and the discriminator's loss. Sampling is
by inverse CDF from `rtd_uniform`, one uniform number per position drawn outside the model, so
the same numbers give the same samples.

The "encoder-decoder" family (T5, Raffel et al. 2020; BART, Lewis et al. 2020) adds a decoder
stack of `n_decoder_layers` of the same `Block`, each with a cross-attention sublayer between
its causal self-attention and its MLP (queries from the decoder, keys and values from the
encoder's final hidden states). The token and position embeddings and the tied output head are
shared by both stacks; the encoder is bidirectional. `forward(..., decoder_input_ids=...)` runs
both and scores the decoder's positions against `labels`.

The "plm" head is XLNet's two-stream attention (Yang et al. 2019) written as attention masks: a
content stream h (the ordinary hidden states) and a query stream g that starts from a learned
vector plus the position embedding (it knows where it predicts, not what is there). Each block
updates both with the same weights: h attends over h under the content mask, g takes its queries
from g and its keys and values from h under the query mask. The masks come from the factorisation
order (trainer.objectives.plm builds them); `forward(..., perm_masks=(content, query))` predicts
the labelled positions from the query stream.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

#: The heads this model family provides, each with the `ModelConfig` fields it sets: "lm", the
#: vocabulary projection tied to the embedding; "nsp", BERT's two segments (A, B) and a pooler +
#: 2-way classifier (is B the next segment / are the segments in order); "rtd", ELECTRA's
#: generator and token-level replaced/original classifier (its width, `generator_fraction`, is a
#: training setting, so it comes from the TrainConfig rather than from here).
HEAD_SETTINGS: dict[str, dict[str, int | bool]] = {
    "lm": {},
    "nsp": {"type_vocab_size": 2, "n_classes": 2},
    "rtd": {},
    "plm": {"two_stream": True},  # XLNet's query stream (its learned start vector)
}
HEADS = frozenset(HEAD_SETTINGS)
#: Where a block's LayerNorms sit: before each sublayer (GPT-2) or after each residual sum (BERT).
NORM_PLACEMENTS = frozenset({"pre", "post"})
#: `ModelConfig.gelu` -> `torch.nn.GELU(approximate=...)`.
GELU_APPROXIMATIONS: dict[str, str] = {"exact": "none", "tanh": "tanh"}


def gelu(cfg: ModelConfig) -> nn.GELU:
    """The GELU this config asks for (exact, or the tanh approximation)."""
    return nn.GELU(approximate=GELU_APPROXIMATIONS[cfg.gelu])


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
    # ELECTRA's generator width as a fraction of this model's (the "rtd" head); 0 = no generator
    # and no replaced-token classifier.
    generator_fraction: float = 0.0
    # Decoder blocks (with cross-attention) of the "encoder-decoder" family; 0 = no decoder.
    n_decoder_layers: int = 0
    # XLNet's query stream (the "plm" head): a learned start vector for the second stream.
    two_stream: bool = False
    # Architecture options (the defaults are this family's original shape), so that each family
    # can match a stock architecture exactly (trainer.export): BERT is post-norm with a LayerNorm
    # on the embeddings, no final LayerNorm and a dense-GELU-LayerNorm head transform, eps 1e-12;
    # GPT-2 is pre-norm with a final LayerNorm, tanh GELU and no output bias, eps 1e-5.
    norm: str = "pre"  # "pre": x + f(ln(x)) (GPT-2); "post": ln(x + f(x)) (BERT)
    embed_norm: bool = False  # LayerNorm over the summed embeddings (BERT)
    final_norm: bool = True  # LayerNorm after the last block (pre-norm needs it; BERT has none)
    head_transform: bool = False  # dense -> GELU -> LayerNorm before the vocabulary projection
    head_bias: bool = True  # a bias on the vocabulary projection (BERT has one, GPT-2 not)
    gelu: str = "exact"  # "exact" (erf) or "tanh" (the approximation GPT-2 was trained with)
    norm_eps: float = 1e-5  # LayerNorm epsilon: torch's and GPT-2's default; BERT uses 1e-12

    def __post_init__(self) -> None:
        if self.norm not in NORM_PLACEMENTS:
            raise ValueError(f"norm {self.norm!r} is not one of {sorted(NORM_PLACEMENTS)}")
        if self.gelu not in GELU_APPROXIMATIONS:
            raise ValueError(f"gelu {self.gelu!r} is not one of {sorted(GELU_APPROXIMATIONS)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.vocab_size < 1 or self.max_len < 1:
            raise ValueError("vocab_size and max_len must be positive")
        if self.n_decoder_layers < 0:
            raise ValueError(f"n_decoder_layers {self.n_decoder_layers} is negative")
        if not 0 <= self.generator_fraction <= 1:
            raise ValueError(f"generator_fraction {self.generator_fraction} is not in [0, 1]")

    def generator(self) -> ModelConfig:
        """The generator's shape: width, heads and feed-forward size scaled by
        `generator_fraction` (as ELECTRA scales all three), heads reduced until they divide the
        width; no segment embeddings, classifier or generator of its own."""
        width = max(1, round(self.d_model * self.generator_fraction))
        heads = max(1, min(width, round(self.n_heads * self.generator_fraction)))
        while width % heads:
            heads -= 1
        return replace(
            self,
            d_model=width,
            n_heads=heads,
            d_ff=max(1, round(self.d_ff * self.generator_fraction)),
            type_vocab_size=0,
            n_classes=0,
            generator_fraction=0.0,
            n_decoder_layers=0,
            two_stream=False,
        )

    def to_dict(self) -> dict[str, int | float | bool]:
        return asdict(self)


class SelfAttention(nn.Module):
    """Multi-head attention; its keys and values come from `x`, or from `kv` when given
    (cross-attention to an encoder, or XLNet's query stream reading the content stream)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, kv: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch, length, width = x.shape
        heads, size = self.n_heads, width // self.n_heads
        if kv is None:
            q, k, v = self.qkv(x).view(batch, length, 3, heads, size).unbind(dim=2)
        else:  # the same projections, queries from x and keys/values from kv
            q = F.linear(x, self.qkv.weight[:width], self.qkv.bias[:width])
            q = q.view(batch, length, heads, size)
            kv_proj = F.linear(kv, self.qkv.weight[width:], self.qkv.bias[width:])
            k, v = kv_proj.view(batch, kv.shape[1], 2, heads, size).unbind(dim=2)
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln(x)), then x + mlp(ln(x)); with `norm="post"`,
    BERT's post-norm one: ln(x + attn(x)), then ln(x + mlp(x)).

    With `cross=True` (a decoder block) a cross-attention sublayer sits between the two:
    x + cross(ln_cross(x), memory) (post-norm: ln_cross(x + cross(x, memory))), keys and values
    from `memory` (the encoder's output). Given `context`, the self-attention's keys and values
    come from the context stream, normed as x is (XLNet's query stream reading the content
    stream with the same weights).
    """

    def __init__(self, cfg: ModelConfig, *, cross: bool = False) -> None:
        super().__init__()
        self.post_norm = cfg.norm == "post"
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = SelfAttention(cfg)
        self.ln_cross = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cross else None
        self.cross = SelfAttention(cfg) if cross else None
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            gelu(cfg),
            nn.Linear(cfg.d_ff, cfg.d_model),
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        *,
        context: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.cross is not None and memory is None:
            raise ValueError("a decoder block needs the encoder's output (memory)")
        if self.post_norm:
            x = self.ln1(x + self.drop(self.attn(x, mask, context)))
            if self.cross is not None and self.ln_cross is not None:
                x = self.ln_cross(x + self.drop(self.cross(x, memory_mask, memory)))
            return self.ln2(x + self.drop(self.mlp(x)))
        kv = None if context is None else self.ln1(context)
        x = x + self.drop(self.attn(self.ln1(x), mask, kv))
        if self.cross is not None and self.ln_cross is not None:
            x = x + self.drop(self.cross(self.ln_cross(x), memory_mask, memory))
        return x + self.drop(self.mlp(self.ln2(x)))


def sample_tokens(logits: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """One token per row of `logits` (..., vocab), drawn from its softmax by inverse CDF at
    `uniform` (..., values in [0, 1)): the first token whose cumulative probability exceeds it.
    The same logits and uniforms give the same tokens."""
    cdf = torch.softmax(logits.float(), dim=-1).cumsum(dim=-1)
    point = uniform.to(cdf.dtype).unsqueeze(-1) * cdf[..., -1:]
    tokens = torch.searchsorted(cdf, point, right=True).squeeze(-1)
    return tokens.clamp_(max=logits.shape[-1] - 1)


def replace_tokens(
    input_ids: torch.Tensor, labels: torch.Tensor, samples: torch.Tensor, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """ELECTRA's corrupted input and the discriminator's labels.

    `samples` holds one token per labelled position (those whose label is not `ignore_index`,
    in row-major order); they replace `input_ids` there. A position is marked replaced (True)
    when its sample differs from the original token (its label); a sample equal to the original
    counts as original, as in ELECTRA. Unlabelled positions keep their token and are original.
    """
    take = labels != ignore_index
    corrupted = input_ids.clone()
    corrupted[take] = samples.to(corrupted.dtype)
    replaced = torch.zeros_like(take)
    replaced[take] = samples.to(labels.dtype) != labels[take]
    return corrupted, replaced


class Generator(nn.Module):
    """ELECTRA's generator: a narrower encoder over the discriminator's embeddings.

    The shared embeddings (discriminator width) are projected down to the generator's width,
    run through its blocks, and its MLM head (dense to the embedding width, GELU, LayerNorm, as
    in BERT and ELECTRA) projects back, so the logits come from the model's "lm" head, tied to
    the shared token embedding.
    """

    def __init__(self, cfg: ModelConfig, embed_width: int) -> None:
        super().__init__()
        self.proj_in = nn.Linear(embed_width, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.transform = nn.Sequential(
            nn.Linear(cfg.d_model, embed_width), nn.GELU(), nn.LayerNorm(embed_width)
        )

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states at the embedding width, (batch, length, embed_width)."""
        x = self.proj_in(embedded)
        for block in self.blocks:
            x = block(x, mask)
        return self.transform(self.ln_f(x))


class TransformerLM(nn.Module):
    """Embeddings -> pre-norm blocks -> LayerNorm -> head tied to the token embedding."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f: nn.Module = (
            nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cfg.final_norm else nn.Identity()
        )
        # The head's weight is tok_emb.weight (used through F.linear); only its bias is its own.
        self.head_bias: nn.Parameter | None
        if cfg.head_bias:
            self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        else:
            self.register_parameter("head_bias", None)
        self.emb_ln = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cfg.embed_norm else None
        # BERT's prediction-head transform, applied before the vocabulary projection.
        self.head_transform = (
            nn.Sequential(
                nn.Linear(cfg.d_model, cfg.d_model),
                gelu(cfg),
                nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps),
            )
            if cfg.head_transform
            else None
        )
        self.type_emb = (
            nn.Embedding(cfg.type_vocab_size, cfg.d_model) if cfg.type_vocab_size else None
        )
        self.pooler = nn.Linear(cfg.d_model, cfg.d_model) if cfg.n_classes else None
        self.classifier = nn.Linear(cfg.d_model, cfg.n_classes) if cfg.n_classes else None
        self.generator = Generator(cfg.generator(), cfg.d_model) if cfg.generator_fraction else None
        # ELECTRA's discriminator head: dense, GELU, one logit (replaced vs original) per token.
        self.rtd_head = (
            nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, 1))
            if cfg.generator_fraction
            else None
        )
        # The "encoder-decoder" family's decoder: the same Block with cross-attention, reading
        # the shared embeddings; its own final LayerNorm before the shared head.
        self.decoder = (
            nn.ModuleList(Block(cfg, cross=True) for _ in range(cfg.n_decoder_layers))
            if cfg.n_decoder_layers
            else None
        )
        self.ln_dec: nn.Module | None = None
        if cfg.n_decoder_layers:
            self.ln_dec = (
                nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cfg.final_norm else nn.Identity()
            )
        # XLNet's query stream starts from one learned vector (its `mask_emb`) at every position.
        self.query_emb = nn.Parameter(torch.zeros(cfg.d_model)) if cfg.two_stream else None
        self.apply(self._init_weights)
        if self.query_emb is not None:
            nn.init.normal_(self.query_emb, std=0.02)
        # GPT-2's scaled init for the projections that write into the residual stream.
        blocks = [*self.blocks, *(self.generator.blocks if self.generator is not None else [])]
        for block in blocks:
            for proj in (block.attn.out, block.mlp[2]):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))
        for block in self.decoder if self.decoder is not None else []:
            for proj in (block.attn.out, block.cross.out, block.mlp[2]):  # type: ignore[union-attr]
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(3 * cfg.n_decoder_layers))

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
        causal: bool | None = None,
    ) -> torch.Tensor:
        """Boolean SDPA mask (True = may attend), (batch, 1, T, T): keys that `attention_mask`
        keeps (default: non-pad), only earlier ones if causal, and, given `position_ids`, only
        keys of the query's own document (a document starts where its position is 0).
        `causal` overrides the config's `causal` for this call (a run mixing objectives picks
        the mask per batch).

        Every query may attend to itself, so a query never has all keys masked (which would make
        SDPA return NaN), e.g. an all-padding row.
        """
        length = input_ids.shape[1]
        keep = input_ids != self.cfg.pad_id if attention_mask is None else attention_mask.bool()
        keys = keep[:, None, None, :]  # (B, 1, 1, T)
        eye = torch.eye(length, dtype=torch.bool, device=input_ids.device)
        if self.cfg.causal if causal is None else causal:
            keys = keys & torch.ones_like(eye).tril()
        if position_ids is not None:
            document = torch.cumsum(position_ids == 0, dim=1)  # (B, T)
            keys = keys & (document[:, :, None] == document[:, None, :])[:, None]
        return keys | eye

    def embed(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Token + position (+ segment) embeddings after dropout, (batch, length, d_model)."""
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
        if self.emb_ln is not None:
            x = self.emb_ln(x)
        return self.drop(x)

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        causal: bool | None = None,
    ) -> torch.Tensor:
        """The last block's hidden states after the final LayerNorm (if any), (batch, length,
        d_model)."""
        x = self.embed(input_ids, position_ids, token_type_ids)
        mask = self.attention_mask(input_ids, attention_mask, position_ids, causal)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        memory: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The decoder's final-LayerNorm hidden states, (batch, target length, d_model).

        Self-attention is causal over the decoder's keys that `decoder_attention_mask` keeps (by
        default, every non-pad one and the first position, which holds the start token even when
        that is `[PAD]`, as in T5); cross-attention reads `memory` (the encoder's hidden states)
        at the encoder positions `attention_mask` keeps (by default, all).
        """
        if self.decoder is None or self.ln_dec is None:
            raise ValueError("this model has no decoder (n_decoder_layers is 0)")
        length = decoder_input_ids.shape[1]
        if decoder_attention_mask is None:
            decoder_attention_mask = decoder_input_ids != self.cfg.pad_id
            decoder_attention_mask[:, 0] = True
        eye = torch.eye(length, dtype=torch.bool, device=decoder_input_ids.device)
        causal = torch.ones_like(eye).tril()
        self_mask = (decoder_attention_mask.bool()[:, None, None, :] & causal) | eye
        if attention_mask is None:
            memory_mask = None
        else:
            keep = attention_mask.bool()
            keep = keep | ~keep.any(dim=1, keepdim=True)  # an empty row would give NaN
            memory_mask = keep[:, None, None, :]
        y = self.embed(decoder_input_ids)
        for block in self.decoder:
            y = block(y, self_mask, memory=memory, memory_mask=memory_mask)
        return self.ln_dec(y)

    def two_stream(
        self,
        input_ids: torch.Tensor,
        content_mask: torch.Tensor,
        query_mask: torch.Tensor,
    ) -> torch.Tensor:
        """XLNet's query stream after the last block, final-LayerNorm'd, (batch, length,
        d_model). Both masks are boolean (batch, 1, length, length), True = may attend; every
        block updates the content stream h under `content_mask` and the query stream g, whose
        keys and values are h's, under `query_mask`, both from the previous block's h."""
        if self.query_emb is None:
            raise ValueError("this model has no query stream (two_stream is off)")
        length = input_ids.shape[1]
        if length > self.cfg.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.cfg.max_len}")
        content = self.embed(input_ids)
        positions = self.pos_emb(torch.arange(length, device=input_ids.device))
        query = self.query_emb + positions
        if self.emb_ln is not None:  # the query stream's start is normed as the embeddings are
            query = self.emb_ln(query)
        query = self.drop(query.expand_as(content))
        last = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            query_next = block(query, query_mask, context=content)
            if index < last:  # the last block's content stream would feed nothing
                content = block(content, content_mask)
            query = query_next
        return self.ln_f(query)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The LM head: the head transform (if any), then the projection onto the vocabulary."""
        if self.head_transform is not None:
            hidden = self.head_transform(hidden)
        return self.project(hidden)

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """The vocabulary projection alone: the tied embedding, plus the bias (if any)."""
        return F.linear(hidden, self.tok_emb.weight, self.head_bias)

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        """The classifier's logits (batch, n_classes) from the pooled first token."""
        if self.pooler is None or self.classifier is None:
            raise ValueError("this model has no classification head (n_classes is 0)")
        return self.classifier(torch.tanh(self.pooler(hidden[:, 0])))

    def generate(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor,
        uniform: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ELECTRA's generator step: its mean MLM loss over the labelled positions, the input
        with those positions replaced by its samples (drawn at `uniform`, without gradient), and
        which positions now hold a token other than the original."""
        if self.generator is None:
            raise ValueError("this model has no generator (generator_fraction is 0)")
        labels = labels.long()
        take = labels != self.cfg.ignore_index
        mask = self.attention_mask(input_ids, attention_mask)
        hidden = self.generator(self.embed(input_ids), mask)[take]
        logits = self.project(hidden).float()  # the generator's own transform is applied
        total = F.cross_entropy(logits, labels[take], reduction="sum")
        loss = total / take.sum().clamp(min=1)
        with torch.no_grad():
            samples = sample_tokens(logits.detach(), uniform[take])
        corrupted, replaced = replace_tokens(input_ids, labels, samples, self.cfg.ignore_index)
        return loss, corrupted, replaced

    def detect(
        self,
        corrupted: torch.Tensor,
        replaced: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The discriminator's mean binary cross-entropy (replaced vs original) over every
        position `attention_mask` keeps (default: every non-pad one), as ELECTRA."""
        if self.rtd_head is None:
            raise ValueError("this model has no replaced-token head (generator_fraction is 0)")
        keep = corrupted != self.cfg.pad_id if attention_mask is None else attention_mask.bool()
        hidden = self.hidden(corrupted, attention_mask)
        logits = self.rtd_head(hidden[keep]).squeeze(-1).float()
        total = F.binary_cross_entropy_with_logits(logits, replaced[keep].float(), reduction="sum")
        return total / keep.sum().clamp(min=1)

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        rtd_uniform: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        perm_masks: tuple[torch.Tensor, torch.Tensor] | None = None,
        causal: bool | None = None,
    ) -> torch.Tensor:
        """Logits (batch, length, vocab) without labels; with labels, the mean loss (scalar);
        with `next_sentence_label` too, a (2,) tensor: that loss and the classifier's mean
        cross-entropy against `next_sentence_label` (one pass, so wrappers such as DDP see one
        forward).

        The loss is cross-entropy of each position's logits against its own label, over
        positions whose label is not `ignore_index`, computed in fp32 (a causal objective passes
        labels already shifted). A batch with no such position gives 0 (with a zero gradient),
        not NaN.

        With `rtd_uniform` (one number in [0, 1) per position), ELECTRA's pass instead: a (2,)
        tensor of the generator's MLM loss against `labels` and the discriminator's loss on the
        input its samples corrupted (`generate`, then `detect`).

        With `decoder_input_ids` (the "encoder-decoder" family), the encoder reads `input_ids`
        and the logits and loss are the decoder's, one per decoder position (`labels` align with
        `decoder_input_ids`: position t predicts `labels[t]`). With `perm_masks` (the "plm"
        head's content and query masks), they are the query stream's.
        `causal` overrides the config's attention direction for this call (not for ELECTRA's
        pass, which is always the encoder's).
        """
        if rtd_uniform is not None:
            if labels is None:
                raise ValueError("replaced-token detection needs the masked positions' labels")
            gen_loss, corrupted, replaced = self.generate(
                input_ids, labels, rtd_uniform, attention_mask
            )
            return torch.stack([gen_loss, self.detect(corrupted, replaced, attention_mask)])
        if decoder_input_ids is not None:
            memory = self.hidden(input_ids, attention_mask, position_ids, token_type_ids)
            hidden = self.decode(decoder_input_ids, memory, attention_mask, decoder_attention_mask)
        elif perm_masks is not None:
            hidden = self.two_stream(input_ids, *perm_masks)
        else:
            hidden = self.hidden(input_ids, attention_mask, position_ids, token_type_ids, causal)
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
