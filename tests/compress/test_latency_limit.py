"""Pruning to a latency limit: predictions of pruning plans from a network's latency table,
every method under the limit, AMC's budget rule with it, and the command line.

Tables here are timed by a deterministic stand-in (MACs and BN channels), so no assertion
depends on timing noise; the command-line tests time for real but assert no speed.
"""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch
from torch import nn

from nasengine.compress import prunable_layers, prune_to_ratios
from nasengine.compress.amc_layers import policy_layers
from nasengine.compress.latency import LatencyLimit, PlanLatency, network_identity
from nasengine.compress.latency_build import build_network_table
from nasengine.compress.methods import METHODS
from nasengine.compress.source import load_source
from nasengine.cost import count_cost
from nasengine.latency.network import NetworkLatencyTable
from nasengine.layer_policy import ChannelBudget, MonotoneLimit
from nasengine.utils.timing import Timing
from tests.cli_helpers import run_cli
from tests.compress.test_amc_method import SHAPE, _task, _tiny


def fake_ms(modules) -> list[float]:
    """Deterministic "milliseconds": MACs, BN channels and a constant per call."""
    out = []
    for module, shape in modules:
        bn = sum(m.num_features for m in module.modules() if isinstance(m, nn.BatchNorm2d))
        out.append(1e-5 * count_cost(module, (1, *shape)).macs + 1e-3 * bn + 0.01)
    return out


@pytest.fixture(scope="module")
def table():
    return build_network_table(_tiny(), SHAPE, Timing(), time_modules=fake_ms)


def _plans(model, rng: random.Random, count: int):
    names = [info.name for info in prunable_layers(model, (1, *SHAPE))]
    return [{name: rng.uniform(0.1, 1.0) for name in names} for _ in range(count)]


def test_predictions_follow_the_pruned_networks(table):
    model = _tiny()
    predict = PlanLatency(model, (2, *SHAPE), table)
    names = [info.name for info in predict.layers]
    for width in table.calibration["widths"]:  # the rest term is fitted there: exact
        plan = {name: width for name in names}
        measured = fake_ms([(prune_to_ratios(model, (2, *SHAPE), plan, selection="first"), SHAPE)])[0]
        assert predict(plan) == pytest.approx(measured, rel=1e-9)
    for plan in _plans(model, random.Random(0), 10):
        measured = fake_ms([(prune_to_ratios(model, (2, *SHAPE), plan, selection="first"), SHAPE)])[0]
        assert predict(plan) == pytest.approx(measured, rel=0.1)


def test_predictions_rise_with_every_ratio(table):
    predict = PlanLatency(_tiny(), (2, *SHAPE), table)
    rng = random.Random(1)
    for plan in _plans(_tiny(), rng, 20):
        name = rng.choice(list(plan))
        assert predict({**plan, name: min(1.0, plan[name] + 0.2)}) >= predict(plan)


@pytest.mark.parametrize("method", ["uniform", "l1", "lasso", "amc"])
@pytest.mark.parametrize("share", [0.5, 0.7])
def test_every_method_meets_the_predicted_latency_limit(table, method, share):
    task = _task(1.0)  # no MACs limit
    predict = PlanLatency(task.model, task.example, table)
    limit = share * predict({})
    pruned = METHODS[method].run(dataclasses.replace(task, latency=LatencyLimit(predict, limit)))
    assert predict(pruned.ratios) <= limit
    # the prediction is of the network the method returned: its channels are those of the plan
    plan_net = prune_to_ratios(task.model, task.example, pruned.ratios, selection="first")
    assert count_cost(pruned.model, (1, *SHAPE)).macs == count_cost(plan_net, (1, *SHAPE)).macs


def test_amcs_budget_rule_never_exceeds_random_latency_limits(table):
    model = _tiny()
    predict = PlanLatency(model, (2, *SHAPE), table)
    decided = [info for info in prunable_layers(model, (2, *SHAPE)) if not info.residual]
    names = [info.name for info in decided]
    cost = policy_layers(model, torch.zeros(2, *SHAPE), decided).cost
    rng = random.Random(3)
    for _ in range(40):
        bounds = dict(lbound=rng.choice([0.1, 0.2, 0.3]), round_to=rng.choice([1, 2]))
        narrowest = predict(dict(zip(names, ChannelBudget(cost, None, **bounds).min_ratios)))
        limit = rng.uniform(narrowest, predict({}))
        budget = ChannelBudget(cost, None, **bounds, other=MonotoneLimit(lambda r: predict(dict(zip(names, r))), limit))
        ratios: list[float] = []
        for _ in names:
            ratios.append(budget.clip(ratios, rng.uniform(-0.5, 1.5)))
        assert predict(dict(zip(names, ratios))) <= limit * (1 + 1e-9)


def test_an_impossible_latency_limit_is_refused(table):
    from nasengine.compress import PruningError

    task = _task(1.0)
    predict = PlanLatency(task.model, task.example, table)
    for method in METHODS:
        with pytest.raises(PruningError, match="cannot be met"):
            METHODS[method].run(dataclasses.replace(task, latency=LatencyLimit(predict, 0.01 * predict({}))))


def test_the_identity_ignores_weights_and_tells_networks_apart():
    a, b = _tiny(), _tiny()
    with torch.no_grad():
        b[0].weight.mul_(2)
    assert network_identity(a, SHAPE, {"kind": "x", "weights": "a.pt"}) == network_identity(b, SHAPE, {"kind": "x"})
    wider = nn.Sequential(*list(_tiny())[:-1], nn.Linear(16, 12))
    assert network_identity(wider, SHAPE)["structure"] != network_identity(a, SHAPE)["structure"]
    assert network_identity(a, (1, 16, 16))["structure"] != network_identity(a, SHAPE)["structure"]


# --- the command line ------------------------------------------------------------------------------------------
def _build(capsys, folder, out, *extra) -> tuple[int, str, str]:
    return run_cli(capsys, "latency", "build", "--model", str(folder), "--warmup", "2", "--repeats", "5",
                   "--quiet", "--out", str(out), *extra)


def test_latency_build_and_compress_under_a_latency_limit(capsys, export_folder, tmp_path):
    code, stdout, stderr = _build(capsys, export_folder, tmp_path / "t.json")
    assert code == 0, stderr
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["threads"] == 1 and saved["batch"] == 1 and saved["machine"] and saved["model"]["structure"]
    # this small network's time is mostly overhead: the limit lies between its narrowest and its full prediction
    source = load_source(str(export_folder))
    predict = PlanLatency(source.model, (2, *source.input_shape), NetworkLatencyTable.load(tmp_path / "t.json"))
    full, narrowest = predict({}), predict({info.name: 1e-3 for info in predict.layers})
    limit = (full + narrowest) / 2
    out = tmp_path / "o"
    code, stdout, stderr = run_cli(capsys, "compress", "--model", str(export_folder), "--max-latency-ms",
                                   f"{limit:.6f}ms", "--latency-table", str(tmp_path / "t.json"), "--method", "l1",
                                   "--quiet", "--calibration-images", "32", "--out", str(out))
    assert code == 0, stderr
    latency = json.loads((out / "compress.json").read_text())["latency"]
    assert latency["predicted_ms"] <= latency["limit_ms"] == pytest.approx(limit, rel=1e-5)
    assert latency["source_predicted_ms"] == pytest.approx(full)
    assert latency["measured_ms"] > 0 and latency["source_measured_ms"] > 0 and "predicted" in stdout


def test_latency_limit_errors_exit_2(capsys, export_folder, tmp_path):
    import nasengine
    from nasengine.bench.suites import machine_info

    table = tmp_path / "t.json"  # synthetic: no case may depend on timing noise
    source = load_source(str(export_folder))
    build_network_table(source.model, source.input_shape, Timing(threads=1), source=source.description,
                        machine=machine_info(), time_modules=fake_ms).save(table)
    other = tmp_path / "other"
    space = nasengine.get_space("channel_width", backbone="small", input_size=8, num_classes=10, in_channels=1)
    other.mkdir()
    arch = next(a for a in (space.sample(s) for s in range(1, 50))
                if a.to_dict() != json.loads((export_folder / "arch.json").read_text()))
    (other / "arch.json").write_text(json.dumps(arch.to_dict()))
    torch.save(space.build(arch).state_dict(), other / "weights.pt")
    space_table = tmp_path / "space.json"
    space_table.write_text(json.dumps({"format": "nasengine-latency/1"}))
    cases = [
        ([], "give a limit"),
        (["--max-latency-ms", "3"], "needs a latency table"),
        (["--max-latency-ms", "3", "--latency-table", str(tmp_path / "none.json")], "does not exist"),
        (["--max-latency-ms", "3", "--latency-table", str(space_table)], "not a nasengine network latency table"),
        (["--max-latency-ms", "fast", "--latency-table", str(table)], "is not a limit"),
        (["--max-latency-ms", "150%", "--latency-table", str(table)], "relative limit"),
        (["--max-latency-ms", "-1", "--latency-table", str(table)], "positive"),
        (["--max-latency-ms", "0.00001ms", "--latency-table", str(table)], "cannot be met"),
        (["--max-latency-ms", "3", "--latency-table", str(table), "--threads", "2"], "thread"),
        (["--max-latency-ms", "3", "--latency-table", str(table), "--model", str(other)], "another network"),
    ]
    for extra, message in cases:
        argv = ["compress", "--model", str(export_folder), "--calibration-images", "8", "--quiet",
                "--out", str(tmp_path / "o"), "--force", *extra]  # a second --model replaces the first
        code, _, stderr = run_cli(capsys, *argv)
        assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, (extra, stderr)
    code, _, stderr = run_cli(capsys, "latency", "build", "--out", str(tmp_path / "x.json"))
    assert code == 2 and "--space" in stderr and "--model" in stderr
