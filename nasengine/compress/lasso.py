"""Channel selection by LASSO regression and least-squares reconstruction (He, Zhang and
Sun, "Channel Pruning for Accelerating Very Deep Neural Networks", ICCV 2017).

A consumer layer's response is the sum of its input channels' contributions,
``Y = sum_i Z_i`` with ``Z_i = X_i W_i^T`` (channel ``i``'s input patches times its kernel
slice). Selection solves ``min ||Y - sum_i beta_i Z_i||^2 + alpha ||beta||_1`` and raises
``alpha`` until at most ``c'`` coefficients are non-zero; reconstruction then refits the
consumer's weights on the kept channels, ``min ||Y - X' W'^T||^2``, with ``X'`` read from
the network being pruned and ``Y`` from the source network, so that errors from layers
pruned earlier are corrected too.

The regression is solved on the Gram matrix ``G = Z^T Z`` (channels x channels) rather
than on the stacked samples (rows: positions x output channels, a gigabyte for a 512-channel
layer): with ``G = A^T A`` and ``A^T b = Z^T Y``, ``||b - A beta||^2`` differs from the
sample objective by a constant, so scikit-learn's ``Lasso`` on ``(A, b)`` has the same
solutions (its ``alpha`` is on another scale, and is searched anyway).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch

#: Sample positions the LASSO step uses at most (``min(400, N // 20)`` in He et al.'s code);
#: reconstruction uses every sampled position.
LASSO_POINTS = 400
#: Bisection steps on ``alpha``.
ALPHA_STEPS = 30


def contributions_gram(patches: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
                       mapping: dict[int, list[int]], channels: int, *, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(G, q)``: ``G[i, j] = <Z_i, Z_j>`` and ``q[i] = <Z_i, Y>`` over the sampled rows.

    Args:
        patches: ``(M, C_in, kk)`` input patches of the consumer.
        weight: Its weight as ``(out, C_in, kk)``.
        target: ``(M, out)`` response to reproduce (the source network's, bias removed).
        mapping: ``{root channel: consumer input channels}`` (one each, or several after a flatten).
        channels: Number of root channels.
    """
    gram = torch.zeros(channels, channels, dtype=torch.float64)
    q = torch.zeros(channels, dtype=torch.float64)
    # (C_root, C_in) 0/1 matrix folding consumer input channels into root channels
    fold = torch.zeros(channels, patches.shape[1], dtype=torch.float64)
    for root, idxs in mapping.items():
        fold[root, idxs] = 1.0
    w = weight.double()
    for start in range(0, patches.shape[0], chunk):
        p = patches[start:start + chunk].double()
        z = torch.einsum("mck,ock->mco", p, w)  # per input channel contribution to each output
        z = torch.einsum("rc,mco->mro", fold, z)  # per root channel
        gram += torch.einsum("mro,mso->rs", z, z)
        q += torch.einsum("mro,mo->r", z, target[start:start + chunk].double())
    return gram.numpy(), q.numpy()


def lasso_select(gram: np.ndarray, q: np.ndarray, keep: int) -> list[int]:
    """The ``keep`` channels LASSO selects: the smallest ``alpha`` (by bisection) that leaves at
    most ``keep`` non-zero coefficients gives the first ones; when fewer than ``keep`` are
    non-zero, the largest ``|beta|`` just below that ``alpha`` (then the largest
    contributions) fill the rest, so exactly ``keep`` are returned, sorted.
    """
    channels = gram.shape[0]
    if keep >= channels:
        return list(range(channels))
    if not np.any(gram > 0):  # no channel contributes on the samples: nothing to tell them apart
        return list(range(keep))
    a, b = _factor(gram, q)
    from sklearn.linear_model import Lasso

    # random coordinate order (as their code) converges faster on correlated channels
    solver = Lasso(alpha=1.0, fit_intercept=False, warm_start=True, max_iter=1000, tol=1e-3, selection="random",
                   random_state=0)

    def solve(alpha: float) -> np.ndarray:
        solver.alpha = alpha
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings at tiny alphas
            solver.fit(a, b)
        return np.asarray(solver.coef_, dtype=np.float64).copy()

    high = float(np.abs(a.T @ b).max()) / a.shape[0] * 1.01 + 1e-30  # every coefficient is zero above this
    low = 0.0
    beta_high, beta_low = np.zeros(channels), solve(high * 1e-6)
    for _ in range(ALPHA_STEPS):
        mid = (low + high) / 2
        beta = solve(mid)
        if np.count_nonzero(beta) <= keep:
            high, beta_high = mid, beta
            if np.count_nonzero(beta) == keep:
                break
        else:
            low, beta_low = mid, beta
    chosen = [int(i) for i in np.flatnonzero(beta_high)]
    for ranking in (np.abs(beta_low), np.diag(gram)):
        for i in np.argsort(-ranking, kind="stable"):
            if len(chosen) >= keep:
                break
            if int(i) not in chosen:
                chosen.append(int(i))
    return sorted(chosen[:keep])


def _factor(gram: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with ``A^T A = G`` and ``A^T b = q`` (directions of ``G`` near zero dropped)."""
    values, vectors = np.linalg.eigh(gram)
    mask = values > max(values.max(), 0.0) * 1e-12
    root = np.sqrt(values[mask])
    a = root[:, None] * vectors[:, mask].T
    b = (vectors[:, mask].T @ q) / root
    return a, b


def least_squares(inputs: torch.Tensor, target: torch.Tensor, *, bias: bool,
                  prior: tuple[torch.Tensor, torch.Tensor | None] | None = None,
                  ridge: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``W, b`` minimising ``||target - inputs W^T - b||^2 + lam ||(W, b) - prior||^2``.

    ``lam`` is ``ridge`` times the mean diagonal of ``inputs^T inputs``. Without a prior the
    ridge pulls towards zero (a tiny one keeps the system well posed); with the layer's own
    weights as the prior, directions the samples do not pin down keep their trained values
    instead of growing without bound (deep layers see few distinct positions per image).

    Args:
        inputs: ``(M, D)`` rows.
        target: ``(M, out)``.
        bias: Fit a bias too.
        prior: ``(W0, b0)`` the solution is pulled towards, ``W0`` ``(out, D)``.
        ridge: Strength of the pull, relative to the inputs' scale.

    Returns:
        ``W`` ``(out, D)`` and ``b`` ``(out,)`` or ``None``, in float32.
    """
    x = inputs.double()
    if bias:
        x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
    xtx = x.T @ x
    lam = ridge * max(1.0, float(xtx.diagonal().mean()))
    xtx += torch.eye(xtx.shape[0], dtype=x.dtype) * lam
    rhs = x.T @ target.double()
    if prior is not None:
        w0, b0 = prior
        theta0 = w0.double() if not bias else torch.cat([w0.double(), _bias_column(b0, w0)], dim=1)
        rhs += lam * theta0.T
    solution = torch.linalg.solve(xtx, rhs).T  # (out, D [+1])
    if bias:
        return solution[:, :-1].float(), solution[:, -1].float()
    return solution.float(), None


def _bias_column(b0: torch.Tensor | None, w0: torch.Tensor) -> torch.Tensor:
    return (torch.zeros(w0.shape[0]) if b0 is None else b0).double().reshape(-1, 1)


def gather_channels(patches: torch.Tensor, kept: Sequence[int]) -> torch.Tensor:
    """``(M, C, kk)`` patches of channels ``kept`` as ``(M, len(kept) * kk)`` rows."""
    return patches[:, list(kept), :].reshape(patches.shape[0], -1)
