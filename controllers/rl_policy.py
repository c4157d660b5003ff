"""The LSTM policy of the RL controller (Zoph & Le 2017; ENAS, Pham et al. 2018).

The policy walks a space's decisions in order, one LSTM step per decision. The input of a
step is the embedding of the previous choice (a learned start vector for the first one).

- ``op`` and ``width`` decisions (and any other non-input kind) have their own softmax head
  and their own option embeddings. Heads are not shared between decisions with the same
  options: the best operation usually depends on the position, and per-decision heads let
  REINFORCE credit each position directly (Zoph & Le use one classifier per step too).
- ``input`` decisions choose among *anchors* with ENAS attention:
  ``logit_j = v . tanh(W1 anchor_j + W2 h)``, and the chosen anchor is the next input.

Anchor rule (only the ordered decision list is known, not the cell structure):

1. An input decision with ``n`` options that meets an empty anchor list, or one longer than
   ``n`` (a new cell starts), resets the list to the first ``n`` learned base anchors (the
   cell's own inputs).
2. While the list is shorter than ``n``, one extra LSTM step on the pending input (the
   last choice of the previous block) appends its hidden state: the summary of the block
   just decided. The pending input then becomes the start vector, as in ENAS.
3. Otherwise (``n`` equals the list length) the list is used as it is: two input decisions
   of one block see the same anchors.

On nas_cell this gives anchors ``[input0, input1, block0, block1, ...]``, matching the
option values. A cell with a single block whose input count equals the previous block's
would not be detected as a new cell (rule 1 needs fewer options); no built-in space has one.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nasengine.arch import Decision


def base_anchor_count(decisions: Sequence[Decision]) -> int:
    """How many learned base anchors the anchor rule needs for ``decisions``."""
    needed, current = 0, 0
    for d in decisions:
        if d.kind != "input":
            continue
        n = len(d.options)
        if current == 0 or n < current:
            needed = max(needed, n)
        current = n
    return needed


class PolicyNet(nn.Module):
    """Autoregressive LSTM policy over a space's decisions.

    Args:
        decisions: The space's decisions, in walking order.
        hidden_size: LSTM width (also the embedding and attention width).
        num_layers: Stacked LSTM layers.
        temperature: Logits are divided by it before the tanh (``None``: no division).
        tanh_constant: Logits become ``c * tanh(logits)`` (``None``: unbounded logits);
            bounds every probability ratio by ``exp(2c)`` so the policy keeps exploring.
    """

    def __init__(self, decisions: Sequence[Decision], *, hidden_size: int, num_layers: int,
                 temperature: float | None, tanh_constant: float | None) -> None:
        super().__init__()
        self.decisions = tuple(decisions)
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        h = hidden_size
        # LSTMCells, not nn.LSTM: one step at a time, and a cell step is ~3x cheaper.
        self.cells = nn.ModuleList(nn.LSTMCell(h, h) for _ in range(num_layers))
        self.start = nn.Parameter(torch.empty(h))
        # One row per (categorical decision, option): embeddings and softmax heads.
        self.offsets: list[int] = []
        total = 0
        for d in self.decisions:
            self.offsets.append(total)
            if d.kind != "input":
                total += len(d.options)
        self.embed = nn.Parameter(torch.empty(max(total, 1), h))
        self.head_weight = nn.Parameter(torch.empty(max(total, 1), h))
        self.head_bias = nn.Parameter(torch.zeros(max(total, 1)))
        n_base = base_anchor_count(self.decisions)
        self.has_inputs = n_base > 0
        if self.has_inputs:
            self.base_anchors = nn.Parameter(torch.empty(n_base, h))
            self.attn_anchor = nn.Linear(h, h, bias=False)
            self.attn_query = nn.Linear(h, h, bias=False)
            self.attn_v = nn.Parameter(torch.empty(h))
        for name, p in self.named_parameters():
            if name != "head_bias":  # ENAS initialises its controller uniformly in +-0.1
                nn.init.uniform_(p, -0.1, 0.1)

    def walk(self, choices: Sequence[int] | None = None,
             generator: torch.Generator | None = None) -> tuple[list[int], Tensor, Tensor]:
        """Sample a whole architecture, or score the given one (teacher forcing).

        Args:
            choices: Option indices in decision order; ``None`` samples them.
            generator: Randomness for sampling.

        Returns:
            (indices, summed log-probability, summed entropy of the per-decision policies).
        """
        x, state = self.start, None
        anchors: list[Tensor] = []
        keys: list[Tensor] = []
        picked: list[int] = []
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        for i, d in enumerate(self.decisions):
            n = len(d.options)
            if d.kind == "input":
                if not anchors or n < len(anchors):  # rule 1: a new cell
                    anchors = list(self.base_anchors[:n])
                    keys = list(self.attn_anchor(self.base_anchors[:n]))
                while len(anchors) < n:  # rule 2: summarise the block just decided
                    out, state = self._step(x, state)
                    anchors.append(out)
                    keys.append(self.attn_anchor(out))
                    x = self.start
                out, state = self._step(x, state)
                logits = torch.tanh(torch.stack(keys) + self.attn_query(out)) @ self.attn_v
            else:
                out, state = self._step(x, state)
                rows = slice(self.offsets[i], self.offsets[i] + n)
                logits = self.head_weight[rows] @ out + self.head_bias[rows]
            logp = F.log_softmax(self._shape(logits), dim=-1)
            if choices is None:
                k = int(torch.multinomial(logp.exp(), 1, generator=generator))
            else:
                k = int(choices[i])
            picked.append(k)
            log_prob = log_prob + logp[k]
            entropy = entropy - (logp.exp() * logp).sum()
            x = anchors[k] if d.kind == "input" else self.embed[self.offsets[i] + k]
        return picked, log_prob, entropy

    def _step(self, x: Tensor, state: list[tuple[Tensor, Tensor]] | None) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """One step of the stacked LSTM; returns the top layer's output and the new state."""
        x = x.view(1, -1)
        new_state = []
        for layer, cell in enumerate(self.cells):
            h, c = cell(x, None if state is None else state[layer])
            new_state.append((h, c))
            x = h
        return x.view(-1), new_state

    def _shape(self, logits: Tensor) -> Tensor:
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits
