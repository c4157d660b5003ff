"""Small configurations shared by the one-shot (SPOS / ENAS) tests."""

from __future__ import annotations

import json

from nasengine.testing.controllers import SMALL

#: A two-stage ShuffleNet space on 8x8 digits (64 architectures): its supernet learns in
#: a few hundred steps.
TINY = dict(SMALL, stage_repeats=(1, 2), stage_channels=(24, 48))
TINY_ARGS = [item for key, value in TINY.items()
             for item in ("--set", f"{key}={json.dumps(list(value) if isinstance(value, tuple) else value)}")]
#: A one-cell-per-stage NASNet space on 8x8 digits with the ENAS operations.
TINY_CELL = dict(stem="cifar", input_size=8, in_channels=1, num_classes=10, filters=8, cells_per_stage=1, blocks=2,
                 ops=("identity", "sep_conv_3x3", "avg_pool_3x3"), output_choices=False)
#: A four-layer ENAS macro space on 8x8 digits (on/off skips, one reduction).
TINY_LAYERS = dict(input_size=8, in_channels=1, num_classes=10, layers=4, filters=(8,), reduce_after=(1,),
                   ops=("conv_3x3", "sep_conv_3x3", "max_pool_3x3"))
