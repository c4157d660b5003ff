from __future__ import annotations

import dataclasses
import itertools
import json
import random
import re

import pytest
import torch

from nasengine.cli.main import main
from nasengine.constraints import ConstraintError, Constraints
from nasengine.cost import trace_cost
from nasengine.latency import table as latency_table
from nasengine.latency.table import LatencyPredictor, LatencyTable, build_table, check_table
from nasengine.records import LatencyCheck, SearchResult
from nasengine.registry import get_space
from nasengine.testing.controllers import SMALL
from nasengine.utils.files import jsonable
from nasengine.utils.timing import Timing
from search_spaces.shufflenet import BLOCK_OPTIONS
from tests import toy_space  # noqa: F401  registers the "toy" space
from tests.search_helpers import SPACE_ARGS

#: Small configs of every built-in space (as in the conformance suite).
CONFIGS = [
    ("shufflenet", SMALL),
    ("shufflenet", {"input_size": 16, "num_classes": 5, "stem_channels": 8, "stem_stride": 1, "stem_pool": True,
                    "stage_repeats": [1, 2, 1, 1], "stage_channels": [16, 32, 48, 64], "last_channels": 64,
                    "channel_search": True}),
    ("nas_cell", {"input_size": 8, "num_classes": 10, "in_channels": 1, "stem": "cifar", "filters": 8,
                  "cells_per_stage": 1, "blocks": 3, "conv_bottleneck": True}),
    ("nas_cell", {"input_size": 16, "num_classes": 5, "filters": 8, "cells_per_stage": 1, "blocks": 2,
                  "combiners": ["add", "concat"], "skip_reduction_input": True, "base_conv": True,
                  "classifier_bias": False}),
    ("layers", {"input_size": 8, "num_classes": 10, "in_channels": 1, "layers": 4, "filters": [8], "skip_inputs": 1}),
    ("layers", {"input_size": 8, "num_classes": 10, "layers": 4, "filters": [4, 8], "combine": "concat",
                "input_conv": False, "ops": ["conv_1x3", "sep_conv_3x3"]}),
    ("channel_width", {"input_size": 8, "num_classes": 10, "in_channels": 1, "backbone": "small"}),
    ("channel_width", {"input_size": 32, "num_classes": 10, "backbone": "mobilenet_v2", "search_last": False}),
]
#: CPU time of the timing thread: robust to other processes sharing the cores.
FAST = Timing(warmup=2, repeats=10, clock="thread")


@pytest.mark.parametrize("name,config", CONFIGS, ids=[f"{n}{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_units_are_exactly_the_network(name, config):
    """The units of an arch hold exactly its Conv2d/Linear work, and all appear in the table."""
    space = get_space(name, **config)
    every = space.latency_units()
    keys = [u.key for u in every]
    assert len(keys) == len(set(keys))
    for seed in range(3):
        arch = space.sample(seed)
        units = space.latency_units(arch)
        assert {u.key for u in units} <= set(keys)
        macs = sum(trace_cost(u.make(), (1, *u.input_shape)).macs for u in units)
        assert macs == space.cost(arch).macs
        unit = units[1]
        with torch.no_grad():
            assert unit.make().eval()(torch.randn(2, *unit.input_shape)).shape[0] == 2


def test_space_without_units_names_itself():
    with pytest.raises(NotImplementedError, match="'toy'"):
        get_space("toy").latency_units()


@pytest.fixture(scope="module")
def small_table():
    space = get_space("shufflenet", **SMALL)
    return space, build_table(space, FAST, calibrate=3, progress=False)


def test_table_times_every_unit_and_predicts_their_sum(small_table, tmp_path):
    space, table = small_table
    units = space.latency_units()
    assert set(table.entries) == {u.key for u in units} and all(v > 0 for v in table.entries.values())
    assert table.fixed_ms == pytest.approx(sum(table.entries[u.key] for u in units if u.fixed))
    assert len(table.calibration["gaps_ms"]) == 3
    for seed in range(5):
        arch = space.sample(seed)
        chosen = [table.entries[u.key] for u in space.latency_units(arch) if not u.fixed]
        assert table.predict(space, arch) == pytest.approx(sum(chosen) + table.fixed_ms + table.glue_ms)
    again = LatencyTable.load(table.save(tmp_path / "t.json"))
    assert again == table and again.timing.threads == 1


def test_check_reports_error_and_rank_correlation(small_table):
    space, table = small_table
    report = check_table(table, space, samples=6, progress=False)
    assert len(report.rows) == 6 and all(r.measured_ms > 0 for r in report.rows)
    assert report.mean_rel_error < 0.5  # same timing protocol on both sides: far closer on a quiet machine
    assert report.timing == dataclasses.asdict(table.timing)


@pytest.mark.parametrize("order", ["same", "reversed"])
def test_check_compares_each_prediction_with_its_measurement(small_table, monkeypatch, order):
    space, table = small_table

    def measured(timing, space, archs, **kwargs):  # stands in for timing the networks
        predicted = [table.predict(space, a) for a in archs]
        return [2 * p for p in predicted] if order == "same" else [1000.0 - p for p in predicted]

    monkeypatch.setattr(latency_table, "archs_ms", measured)
    report = check_table(table, space, samples=6, progress=False)
    sign = 1 if order == "same" else -1
    assert report.kendall_tau == pytest.approx(sign) and report.spearman_rho == pytest.approx(sign)
    if order == "same":  # every prediction is half its measurement
        assert report.mean_rel_error == pytest.approx(0.5) and report.max_rel_error == pytest.approx(0.5)


def test_table_for_another_config_is_refused(small_table):
    _, table = small_table
    with pytest.raises(ValueError, match="input_size=8 \\(here 16\\)"):
        LatencyPredictor(get_space("shufflenet", **{**SMALL, "input_size": 16}), table)


def _synthetic_table(space, seed=0):
    rng = random.Random(seed)
    units = space.latency_units()
    entries = {u.key: rng.uniform(0.1, 1.0) for u in units}
    fixed = sum(entries[u.key] for u in units if u.fixed)
    return LatencyTable(space.name, jsonable(space.config.to_dict()), Timing(), entries, fixed, 0.05)


def test_latency_limit_excludes_slower_archs():
    space = get_space("shufflenet", **SMALL)
    predict = LatencyPredictor(space, _synthetic_table(space))
    archs = [space.sample(s) for s in range(30)]
    limit = sorted(predict(a) for a in archs)[15]
    limits = Constraints(max_latency_ms=limit, latency=predict)
    limits.check_satisfiable(space)
    assert [limits.feasible(space, a) for a in archs] == [predict(a) <= limit for a in archs]
    assert sum(limits.feasible(space, a) for a in archs) == 16
    with pytest.raises(ValueError, match="latency table"):
        Constraints(max_latency_ms=1.0)


def test_fastest_is_exact_by_enumeration_and_by_descent():
    small = get_space("shufflenet", **SMALL)  # 1,024 archs: enumerated
    predict = LatencyPredictor(small, _synthetic_table(small))
    names = [d.name for d in small.decisions()]
    every = [small.arch(dict(zip(names, c))) for c in itertools.product(*(d.options for d in small.decisions()))]
    assert predict.fastest()[0] == pytest.approx(min(predict(a) for a in every))

    big = get_space("shufflenet", **{**SMALL, "channel_search": True})  # 4^5 * 8^5 archs: coordinate descent
    table = _synthetic_table(big, seed=1)
    ms, _ = LatencyPredictor(big, table).fastest()
    base = big.sample(0)
    # Layers are independent, so the true minimum is the sum of per-layer minima (unit i + 1 is layer i).
    per_layer = [min(table.entries[big.latency_units(big.arch({**base.choices, f"block{i}": b, f"channel{i}": s}))[i + 1].key]
                     for b in BLOCK_OPTIONS for s in big.scales) for i in range(big.num_layers)]
    assert ms == pytest.approx(table.overhead_ms + sum(per_layer))
    with pytest.raises(ConstraintError, match="fastest architecture found is predicted at"):
        Constraints(max_latency_ms=ms * 0.99, latency=LatencyPredictor(big, table)).check_satisfiable(big)


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_build_check_predict_and_search_under_a_latency_limit(capsys, tmp_path):
    table_path = tmp_path / "table.json"
    code, out, _ = run(capsys, "latency", "build", "--space", "shufflenet", *SPACE_ARGS, "--warmup", "2",
                       "--repeats", "10", "--clock", "thread", "--out", str(table_path), "--quiet")
    assert code == 0 and "units of shufflenet" in out and table_path.is_file()
    code, out, _ = run(capsys, "latency", "check", str(table_path), "--samples", "4", "--json", str(tmp_path / "c.json"),
                       "--quiet")
    assert code == 0 and "mean relative error" in out and "Kendall tau" in out
    check = LatencyCheck.load(tmp_path / "c.json")  # what `latency check --json` writes, read back
    assert len(check.rows) == 4 and check.samples == 4 and check.table == str(table_path)
    assert check.timing["clock"] == "thread" and check.machine["cpu_count"] and f"{check.kendall_tau:.3f}" in out
    space = get_space("shufflenet", **SMALL)
    predict = LatencyPredictor(space, table_path)
    limit = sorted(predict(space.sample(s)) for s in range(40))[20]
    out_dir = tmp_path / "run"
    code, out, _ = run(capsys, "search", "--space", "shufflenet", *SPACE_ARGS, "--strategy", "random", "--dataset",
                       "digits", "--epochs", "1", "--trials", "3", "--top-k", "1", "--max-latency-ms", str(limit),
                       "--latency-table", str(table_path), "--objectives", "acc,latency", "--out", str(out_dir),
                       "--quiet")
    assert code == 0 and " ms  arch " in out
    result = SearchResult.load(out_dir / "result.json")
    assert result.constraints["max_latency_ms"] == limit and result.completed == 3
    assert all(r.cost["latency_ms"] <= limit for r in result.trials)
    assert all(r.cost["latency_ms"] == pytest.approx(predict(space.arch(r.choices))) for r in result.trials)
    assert result.pareto_front["acc_vs_latency"]


@pytest.mark.parametrize("argv,message", [
    (["latency", "build", "--space", "shufflenet", "--device", "tpu", "--out", "x.json"], "unknown device 'tpu'"),
    (["latency", "build", "--space", "toy", "--out", "x.json"], "'toy' does not implement latency_units"),
    (["latency", "build", "--space", "shufflenet", "--threads", "0", "--out", "x.json"], "threads must be"),
    (["latency", "check", "missing.json"], "does not exist"),
    (["search", "--space", "shufflenet", "--max-latency-ms", "2"], "needs --latency-table"),
])
def test_cli_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_cli_cuda_without_cuda_is_one_line(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "latency", "build", "--space", "shufflenet", "--device", "cuda", "--out", str(tmp_path / "t"))
    assert code == 2 and "CUDA is not available" in err


def test_cli_search_refuses_infeasible_limit_and_foreign_table(capsys, tmp_path):
    space = get_space("shufflenet", **SMALL)
    table = _synthetic_table(space).save(tmp_path / "t.json")
    fastest, _ = LatencyPredictor(space, table).fastest()
    code, _, err = run(capsys, "search", "--space", "shufflenet", *SPACE_ARGS, "--max-latency-ms", str(fastest * 0.9),
                       "--latency-table", str(table), "--out", str(tmp_path / "r"))
    assert code == 2 and f"{fastest:.3f} ms" in err and not (tmp_path / "r").exists()
    code, _, err = run(capsys, "search", "--space", "shufflenet", "--max-latency-ms", "5", "--latency-table", str(table),
                       "--out", str(tmp_path / "r"))
    assert code == 2 and "another shufflenet config" in err and err.count("\n") == 1


def test_cli_predict_refuses_an_arch_of_another_config(capsys, tmp_path):
    space = get_space("shufflenet", **SMALL)
    table = _synthetic_table(space).save(tmp_path / "t.json")
    arch = space.sample(0)
    same = tmp_path / "same.json"
    same.write_text(arch.to_json())
    code, out, _ = run(capsys, "latency", "predict", str(table), "--arch", str(same))
    expected = LatencyPredictor(space, table)(arch)
    assert code == 0 and f"arch {arch.id}: {expected:.3f} ms predicted" in out
    # Same choices, exported from a 7-class space: must not be silently rebuilt under the table's config.
    other = get_space("shufflenet", **{**SMALL, "num_classes": 7}).arch(dict(arch.choices))
    foreign = tmp_path / "foreign.json"
    foreign.write_text(other.to_json())
    code, out, err = run(capsys, "latency", "predict", str(table), "--arch", str(foreign))
    assert code == 2 and not out and "num_classes=10 (here 7)" in err and err.count("\n") == 1
    # A bare choices mapping still means "under the table's config".
    code, out, _ = run(capsys, "latency", "predict", str(table), "--arch", json.dumps(dict(arch.choices)))
    assert code == 0 and f"{expected:.3f} ms predicted" in out


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("device"), "missing 'device'"),
    (lambda d: d.update(entries=[]), "'entries' must be an object, got list"),
    (lambda d: d.update(fixed_ms="fast"), "fixed_ms must be a finite number"),
    (lambda d: d.update(clock="sundial"), "clock must be one of"),
])
def test_malformed_table_is_a_clear_value_error(capsys, tmp_path, change, message):
    space = get_space("shufflenet", **SMALL)
    data = _synthetic_table(space).to_dict()
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"is not a valid latency table: .*{re.escape(message)}"):
        LatencyTable.load(bad)
    code, out, err = run(capsys, "latency", "predict", str(bad), "--arch", json.dumps(dict(space.sample(0).choices)))
    assert code == 2 and not out and message in err and err.count("\n") == 1


def test_build_refuses_an_existing_table_before_timing(capsys, tmp_path):
    table_path = tmp_path / "table.json"
    table_path.write_text("{}")
    argv = ["latency", "build", "--space", "shufflenet", *SPACE_ARGS, "--warmup", "1", "--repeats", "2",
            "--calibrate", "1", "--out", str(table_path), "--quiet"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "already exists" in err and "--force" in err and err.count("\n") == 1
    assert table_path.read_text() == "{}"
    assert run(capsys, *argv, "--force")[0] == 0 and "entries" in table_path.read_text()
