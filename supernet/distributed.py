"""Data-parallel plumbing for one-shot training under ``torchrun`` (gloo on CPU, nccl on GPU).

A path-sampled supernet leaves most parameters without a gradient at each step. Torch's
``DistributedDataParallel`` handles that only with ``find_unused_parameters=True``: it walks
the autograd graph every step and all-reduces every bucket, zeros included (four times the
traffic of the sampled path in the SPOS space). Since every rank trains the same path at a
step (paths come from an rng seeded by ``(seed, step)``), the set of parameters holding a
gradient is the same on every rank, and one all-reduce of exactly those gradients
(``sync_path_grads``) gives DDP's result at the sampled path's cost. ``sync="ddp"`` in the
trainer keeps torch's wrapper for comparison.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place in the run: rank, world size and device."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def world(device: str = "cpu") -> World:
    """Join the process group ``torchrun`` (or any launcher setting ``WORLD_SIZE``) describes.

    ``device="cuda"`` puts each rank on ``cuda:LOCAL_RANK`` and uses nccl; otherwise gloo.
    A single process gets a one-rank world without any process group.
    """
    dev = torch.device(device)
    if dist.is_available() and dist.is_initialized():
        rank, size = dist.get_rank(), dist.get_world_size()
    else:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        if size > 1:
            backend = "nccl" if dev.type == "cuda" else "gloo"
            store = _restart_store()
            if store is None:
                dist.init_process_group(backend)
            else:
                dist.init_process_group(backend, store=store, rank=rank, world_size=size)
    if dev.type == "cuda" and size > 1 and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return World(rank, size, dev)


def _restart_store() -> dist.Store | None:
    """The process group's store under ``torchrun``: the agent's, with keys of this restart only.

    After ``--max-restarts`` restarts a group, the agent's store still holds the addresses
    the killed round published; a rank that reaches the group before rank 0 does would read
    those and fail to connect. ``None`` (torch's ``env://`` store) outside ``torchrun``.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    agent = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False)
    return dist.PrefixStore(f"nasengine/restart{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", agent)


def broadcast_state(model: nn.Module, w: World) -> None:
    """Rank 0's parameters and buffers on every rank (what DDP does at construction)."""
    if not w.distributed:
        return
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, 0)


def sync_path_grads(model: nn.Module, w: World) -> None:
    """Average the gradients that exist (the sampled path's) across ranks in one all-reduce.

    A trailing count of the gradients travels with them: ranks that disagree on the path
    (a sampler that is not seeded per step) are an error, not silently wrong weights.
    """
    if not w.distributed:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    count = torch.tensor([float(len(grads))], device=w.device)
    flat = torch.cat([g.reshape(-1) for g in grads] + [count])
    dist.all_reduce(flat)
    if flat[-1].item() != len(grads) * w.size:
        raise RuntimeError("ranks trained different paths at one step; the path must depend only on (seed, step)")
    flat /= w.size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset: offset + n].view_as(g))
        offset += n


def average_buffers(model: nn.Module, w: World) -> None:
    """Average floating-point buffers (BN running statistics) so every rank holds the same."""
    if not w.distributed:
        return
    with torch.no_grad():
        for b in model.buffers():
            if b.is_floating_point():
                dist.all_reduce(b)
                b /= w.size
            else:
                dist.broadcast(b, 0)
