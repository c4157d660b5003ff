"""The shared helpers of ``nasengine.utils``: the timing primitive, devices, seeds, files, checks."""

from __future__ import annotations

import json
import math
import time

import pytest
import torch

from nasengine.data.splits import EpochShuffle
from nasengine.utils.devices import resolve_device
from nasengine.utils.files import jsonable, save_json_atomic
from nasengine.utils.seeding import epoch_permutation, epoch_seed
from nasengine.utils.timing import Timing, time_calls
from nasengine.utils.validation import boolean, finite_number, non_negative_int, probability


def _recorder(log: list[str], name: str):
    return lambda: log.append(name)


def test_time_calls_warms_up_then_times_round_robin():
    log: list[str] = []
    times = time_calls([_recorder(log, "a"), _recorder(log, "b")], warmup=2, repeats=3)
    assert log == ["a", "b"] * 5 and len(times) == 2 and all(t >= 0 for t in times)


def test_time_calls_alternates_the_order_every_other_round():
    log: list[str] = []
    time_calls([_recorder(log, "a"), _recorder(log, "b"), _recorder(log, "c")], warmup=1, repeats=2, alternate=True)
    assert "".join(log) == "abc" + "cba" + "abc"


def test_time_calls_runs_number_calls_per_sample_and_warmup_once_per_round():
    log: list[str] = []
    time_calls([_recorder(log, "a"), _recorder(log, "b")], warmup=3, repeats=2, number=4)
    assert "".join(log) == "ab" * 3 + ("a" * 4 + "b" * 4) * 2


def test_time_calls_clocks_and_statistics():
    sleep = lambda: time.sleep(0.01)  # noqa: E731
    wall = time_calls([sleep], warmup=0, repeats=3)[0]
    assert wall >= 10.0  # milliseconds per call
    assert time_calls([sleep], warmup=0, repeats=3, clock="thread")[0] < 5.0  # sleeping costs no CPU time
    # per-call time of ``number`` back-to-back calls: still about one sleep each
    assert 10.0 <= time_calls([sleep], warmup=0, repeats=1, number=3)[0] < 3 * wall
    for statistic, low, high in [("min", 0.0, 10.0), ("median", 20.0, 40.0)]:
        pauses = iter([0.0, 0.0, 0.02, 0.0, 0.04])  # two warm-up calls, then 20, 0 and 40 ms
        assert low <= time_calls([lambda: time.sleep(next(pauses))], warmup=2, repeats=3,
                                 statistic=statistic)[0] < high


def test_time_calls_pins_threads_and_restores_them():
    before = torch.get_num_threads()
    seen: list[int] = []
    time_calls([lambda: seen.append(torch.get_num_threads())], warmup=0, repeats=1, threads=1)
    assert seen == [1] and torch.get_num_threads() == before


@pytest.mark.parametrize("options, message", [
    ({"warmup": -1}, "warmup must be an integer >= 0"),
    ({"repeats": 0}, "repeats must be a positive integer"),
    ({"number": 0}, "number must be a positive integer"),
    ({"clock": "cpu"}, "clock must be one of"),
    ({"statistic": "mean"}, "statistic must be one of"),
    ({"clock": "event"}, "clock 'event' uses CUDA events: it needs a cuda device"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
])
def test_time_calls_refuses_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        time_calls([lambda: None], **{"warmup": 0, "repeats": 1, **options})


def test_timing_modules_gives_one_median_per_module():
    modules = [(torch.nn.Linear(4, 4), (4,)), (torch.nn.Linear(4, 2), (4,))]
    times = Timing(warmup=1, repeats=3, clock="thread").time_modules(modules)
    assert len(times) == 2 and all(t >= 0 for t in times)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0"):
        Timing(warmup=-1)
    with pytest.raises(ValueError, match="clock must be one of"):
        Timing(clock="event")


def test_resolve_device_auto_and_errors():
    assert resolve_device("auto", allow_auto=True).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'auto'; use cpu, cuda or cuda:N"):
        resolve_device("auto")
    with pytest.raises(ValueError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu", allow_auto=True)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_epoch_permutation_is_the_data_loaders_order():
    sampler = EpochShuffle(50, seed=7)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        assert epoch_permutation(50, 7, epoch) == list(sampler)
    assert epoch_seed(7, 2) == 7 * 100_003 + 2


def test_save_json_atomic_and_jsonable(tmp_path):
    doc = {"shape": (1, 2), "nested": [{"a": (3,)}]}
    assert jsonable(doc) == {"shape": [1, 2], "nested": [{"a": [3]}]}
    path = save_json_atomic(doc, tmp_path / "sub" / "doc.json", indent=2)
    assert json.loads(path.read_text()) == jsonable(doc)
    assert path.read_text().startswith('{\n  "shape"') and path.read_text().endswith("\n")
    assert [p.name for p in path.parent.iterdir()] == ["doc.json"]


def test_validation_helpers():
    assert non_negative_int("n", 0) == 0 and boolean("flag", False) is False
    assert probability("p", 1) == 1.0 and finite_number("x", 2, low=0.0, low_open=True) == 2.0
    for check, value, message in [(non_negative_int, True, "n must be an integer >= 0"),
                                  (boolean, 1, "n must be True or False, got 1"),
                                  (probability, 1.5, "n must be a number between 0 and 1 inclusive"),
                                  (finite_number, math.nan, "n must be a finite number")]:
        with pytest.raises(ValueError, match=message):
            check("n", value)
    with pytest.raises(ValueError, match=r"n must be a finite number with 0.0 <= n < 1.0, got 1.0"):
        finite_number("n", 1.0, low=0.0, high=1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_time_calls_on_cuda_with_events_and_wall_clock():
    x = torch.randn(512, 512, device="cuda")
    small, large = (lambda: x[:64] @ x[:, :64]), (lambda: x @ x @ x @ x)
    for clock in ("event", "wall"):
        fast, slow = time_calls([small, large], warmup=2, repeats=5, number=10, device="cuda", clock=clock)
        assert 0 < fast < slow
    with pytest.raises(ValueError, match="clock 'thread' measures one CPU thread"):
        time_calls([small], warmup=0, repeats=1, device="cuda", clock="thread")
