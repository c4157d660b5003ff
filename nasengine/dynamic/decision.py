"""Decision networks: per-step encoders, an optional shared recurrent cell, gate heads.

One class serves the three methods. Step ``t`` looks at the globally pooled feature map
that enters layer / block ``t``:

* feed-forward (``cell="none"``): pool -> FC -> ReLU -> FC per step (SkipNet FFGate, RNP
  without memory), computed by the fused ``gate_head``;
* recurrent (``cell="gru"`` for RNP, ``"lstm"`` for SkipNet's RNNGate): pool -> per-step
  FC encoder + ReLU -> one shared cell -> FC -> ReLU -> FC head, the head again through
  ``gate_head`` (the cell's state is the "already pooled" input).

The head's mode decides what the scores mean: Q-values (argmax), skip gates (sigmoid,
straight-through) or routing logits (argmax, Gumbel).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.decision_numpy import NUMPY_MODES, NumpyDecider
from nasengine.kernels import GateOutput, gate_head
from nasengine.utils.validation import one_of, positive_int

CELLS = ("none", "gru", "lstm")


class DecisionNetwork(nn.Module):
    """Decides an action in ``0..actions-1`` per sample at each of ``len(in_channels)`` steps.

    Args:
        in_channels: Channels of the feature map seen at each step.
        actions: Number of actions (1 for a sigmoid execute/skip gate).
        hidden: Width of the encoders, the cell and the heads.
        cell: "none", "gru" or "lstm".
        shared_head: Recurrent networks only: one head for every step (SkipNet) instead of
            one per step (RNP).
        head_bias: Initial bias of the last FC (e.g. to start with every gate open).
        input_norm: Standardise each step's pooled features with batch statistics (as
            ConvNet-AIG's gates do with BN). Pooled activations differ little between
            images relative to their mean, so without it the first FC sees nearly the same
            vector for every input and the decisions tend to ignore the input. At inference
            the normalisation is folded into the encoder, so the fused head is unchanged.
    """

    def __init__(self, in_channels: Sequence[int], actions: int, hidden: int = 32, cell: str = "gru",
                 shared_head: bool = False, head_bias: Sequence[float] | None = None,
                 input_norm: bool = False) -> None:
        super().__init__()
        one_of("cell", cell, CELLS)
        positive_int("actions", actions)
        positive_int("hidden", hidden)
        if not in_channels:
            raise ValueError("a decision network needs at least one step")
        self.in_channels = tuple(int(c) for c in in_channels)
        self.actions, self.hidden, self.cell_kind = actions, hidden, cell
        self.encoders = nn.ModuleList(nn.Linear(c, hidden) for c in self.in_channels)
        self.input_norms = (nn.ModuleList(nn.BatchNorm1d(c, affine=False) for c in self.in_channels)
                            if input_norm else None)
        steps = len(self.in_channels)
        if cell == "none":
            self.cell = None
            self.heads = nn.ModuleList(nn.Linear(hidden, actions) for _ in range(steps))
        else:
            self.cell = nn.GRUCell(hidden, hidden) if cell == "gru" else nn.LSTMCell(hidden, hidden)
            n_heads = 1 if shared_head else steps
            # FC -> FC weights; gate_head applies the ReLU between them.
            self.heads = nn.ModuleList(nn.Sequential(nn.Linear(hidden, hidden), nn.Linear(hidden, actions))
                                       for _ in range(n_heads))
        self._params_cache: list[tuple[torch.Tensor, ...]] | None = None
        self._numpy: NumpyDecider | None = None
        self.register_load_state_dict_post_hook(lambda module, keys: module._clear_params())
        if head_bias is not None:
            if len(head_bias) != actions:
                raise ValueError(f"head_bias needs {actions} values, got {len(head_bias)}")
            with torch.no_grad():
                for head in self.heads:
                    last = head if isinstance(head, nn.Linear) else head[1]
                    last.bias.copy_(torch.tensor([float(b) for b in head_bias]))

    @property
    def steps(self) -> int:
        return len(self.in_channels)

    def initial_state(self, n: int, like: torch.Tensor) -> torch.Tensor | None:
        """Zero state for ``n`` samples (LSTM: ``h`` and ``c`` side by side), None without a cell."""
        if self.cell is None:
            return None
        width = 2 * self.hidden if self.cell_kind == "lstm" else self.hidden
        return torch.zeros(n, width, device=like.device, dtype=like.dtype)

    def step(self, t: int, features: torch.Tensor, state: torch.Tensor | None, mode: str = "argmax",
             **gate_kwargs: Any) -> tuple[GateOutput, torch.Tensor | None]:
        """Scores and decisions of step ``t``.

        Args:
            t: Step index.
            features: ``[N, C_t, H, W]`` map or ``[N, C_t]`` pooled vector.
            state: Recurrent state from the previous step (or ``initial_state``).
            mode: ``gate_head`` mode.
        """
        # Plain tensors looked up once: module attribute access is a visible share of a step
        # at batch 1 (loads, mode switches and device moves clear the cache).
        enc_w, enc_b, w1, b1, w2, b2 = self.step_params[t]
        if self.input_norms is not None and self.training:  # in eval mode it is folded into enc_w, enc_b
            norm = self.input_norms[t]
            pooled = features.mean((2, 3)) if features.dim() == 4 else features
            # A single sample has no batch statistics: it is normalised with the running ones.
            features = norm(pooled) if pooled.shape[0] > 1 else F.batch_norm(
                pooled, norm.running_mean, norm.running_var, training=False, eps=norm.eps)
        if self.cell is None:
            return gate_head(features, enc_w, enc_b, w1, b1, mode=mode, **gate_kwargs), None
        pooled = features.mean((2, 3)) if features.dim() == 4 else features
        embedded = torch.relu(F.linear(pooled, enc_w, enc_b))
        cell = self._cell_params
        if self.cell_kind == "gru":
            state = h = torch.gru_cell(embedded, state, *cell)
        else:
            h, c = torch.lstm_cell(embedded, tuple(state.chunk(2, dim=1)), *cell)
            state = torch.cat((h, c), 1)
        return gate_head(h, w1, b1, w2, b2, mode=mode, **gate_kwargs), state

    def decide_one(self, t: int, features: torch.Tensor, state: Any, mode: str = "argmax") -> tuple[int, Any]:
        """Inference decision of step ``t`` for a single sample.

        ``features`` is ``[1, C, H, W]`` or ``[1, C]`` with ``C`` up to the step's width (a
        narrower map stands for zeros in the missing channels); ``state`` is None at the
        first step and the returned state afterwards. On the CPU in float32 this runs the
        NumPy replica (``decision_numpy``), elsewhere ``step``.
        """
        cpu_fp32 = features.device.type == "cpu" and features.dtype == torch.float32
        if cpu_fp32 and mode in NUMPY_MODES and not self.training:
            if self._numpy is None:
                self._numpy = NumpyDecider(self)
            return self._numpy.step(t, features, state, mode)
        pooled = features.mean((2, 3)) if features.dim() == 4 else features
        missing = self.in_channels[t] - pooled.shape[1]
        pooled = F.pad(pooled, (0, missing)) if missing else pooled
        state = self.initial_state(1, pooled) if state is None else state
        out, state = self.step(t, pooled, state, mode=mode)
        return int(out.decision), state

    @property
    def step_params(self) -> list[tuple[torch.Tensor, ...]]:
        """Per step: encoder weight and bias (input normalisation folded in, in eval mode),
        then the head's FC weights and biases (None, None for a single-FC head)."""
        if self._params_cache is None:
            heads = [(h.weight, h.bias, None, None) if isinstance(h, nn.Linear)
                     else (h[0].weight, h[0].bias, h[1].weight, h[1].bias) for h in self.heads]
            shared = len(heads) == 1
            self._params_cache = [(*self._encoder(t), *heads[0 if shared else t]) for t in range(self.steps)]
        return self._params_cache

    def _encoder(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encoders[t]
        if self.input_norms is None or self.training:
            return enc.weight, enc.bias
        norm = self.input_norms[t]
        with torch.no_grad():
            inv_std = torch.rsqrt(norm.running_var + norm.eps)
            weight = enc.weight * inv_std
            return weight, enc.bias - weight @ norm.running_mean

    def train(self, mode: bool = True) -> DecisionNetwork:
        if mode != self.training:  # folded encoders exist in eval mode only
            self._clear_params()
        return super().train(mode)

    def _clear_params(self) -> None:
        self._params_cache = self._numpy = None

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> DecisionNetwork:
        self._clear_params()
        return super()._apply(fn, *args, **kwargs)

    @property
    def _cell_params(self) -> tuple[torch.Tensor, ...]:
        cell = self.cell
        return cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh

    def step_macs(self, t: int) -> int:
        """Multiply-adds of step ``t`` for one sample (Linear layers and the cell's matmuls)."""
        h, a = self.hidden, self.actions
        encoder = self.in_channels[t] * h
        if self.cell is None:
            return encoder + h * a
        gates = 3 if self.cell_kind == "gru" else 4
        return encoder + gates * h * (h + h) + h * h + h * a

    def static_step(self, t: int) -> nn.Module:
        """Step ``t`` as plain Linear layers (for counting its cost with fvcore)."""
        return _StaticStep(self, t)


class _StaticStep(nn.Module):
    """Step ``t`` of a decision network rebuilt from ``nn.Linear`` layers: input ``[N, C_t, H, W]``."""

    def __init__(self, net: DecisionNetwork, t: int) -> None:
        super().__init__()
        h = net.hidden
        self.encoder = net.encoders[t]
        self.cell_kind = net.cell_kind
        if net.cell is None:
            self.head = nn.Sequential(net.heads[t])
            return
        gates = 3 if net.cell_kind == "gru" else 4
        self.input_gates, self.state_gates = nn.Linear(h, gates * h), nn.Linear(h, gates * h)
        with torch.no_grad():
            self.input_gates.weight.copy_(net.cell.weight_ih)
            self.input_gates.bias.copy_(net.cell.bias_ih)
            self.state_gates.weight.copy_(net.cell.weight_hh)
            self.state_gates.bias.copy_(net.cell.bias_hh)
        self.head = net.heads[t if len(net.heads) > 1 else 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = F.relu(self.encoder(x.mean((2, 3))))
        if self.cell_kind == "none":
            return self.head(e)
        state = torch.zeros_like(e)
        mixed = self.input_gates(e) + self.state_gates(state)
        h = torch.tanh(mixed[:, : e.shape[1]])  # the gate nonlinearities cost no MACs
        return self.head[1](self.head[0](h))
