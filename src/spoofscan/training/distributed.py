"""The process group of a ``torchrun`` launch: which process this is, joining and leaving the group.

A plain start (``WORLD_SIZE`` unset or 1) is a group of one and needs no ``torch.distributed``
at all; under ``torchrun`` every process trains on its shard and rank 0 alone evaluates and writes.
"""

from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist

GROUP_TIMEOUT = timedelta(hours=2)  # how long a collective may wait (rank 0 evaluates while the others wait)


@dataclass(frozen=True)
class Dist:
    """This process's place in the group: ``rank`` of ``world`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that evaluates, writes the run folder and reports."""
        return self.rank == 0


@contextlib.contextmanager
def distributed(device_name: str) -> Iterator[Dist]:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); else a single process.

    ``device_name`` is the run's ``--device``: NCCL when CUDA is there and asked for, else gloo.
    A group joined here is destroyed on the way out, errors included: a gloo group left alive
    until interpreter exit can abort the process ("terminate called without an active exception").
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Dist()
        return
    created = not dist.is_initialized()
    if created:
        use_nccl = torch.cuda.is_available() and device_name != "cpu"
        dist.init_process_group("nccl" if use_nccl else "gloo", timeout=GROUP_TIMEOUT)
    try:
        yield Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    finally:
        if created:
            # DistributedDataParallel sits in reference cycles that keep the C++ group alive; collect
            # them so that destroying the group joins gloo's worker threads now, while Python can
            # still serve their last tensor releases (else the process can abort with SIGABRT at exit).
            gc.collect()
            dist.destroy_process_group()


def broadcast(obj, d: Dist):
    """Rank 0's ``obj`` on every process (any picklable object; returned as is in a group of one)."""
    if d.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Dist) -> None:
    """Wait until every process of the group gets here (nothing to wait for in a group of one)."""
    if d.world > 1:
        dist.barrier()
