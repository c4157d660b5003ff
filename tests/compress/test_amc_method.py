"""``--method amc``: AMC's search wired to real pruning, its checkpoints, and the command line."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from torch import nn

import nasengine
from nasengine.compress import PruningError, prunable_layers, pruned_cost
from nasengine.compress.amc import AmcSettings, amc_search
from nasengine.compress.amc_layers import policy_layers
from nasengine.compress.layers import kept_channels
from nasengine.compress.methods import METHODS, MethodInput
from nasengine.cost import count_cost
from nasengine.utils.run_folder import RunFolderError
from tests.cli_helpers import run_cli
from tests.compress.conftest import SMALL

SHAPE = (1, 8, 8)
FAST = {"episodes": 8, "warmup": 3}


def _tiny() -> nn.Module:
    """Three prunable convolutions and a classifier, with BN statistics that make every channel count."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(16, 10))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _task(limit: float = 0.5, *, options=FAST, workdir=None, score="fidelity") -> MethodInput:
    """The tiny network under ``limit`` of its MACs, scored by how much of its output variance
    on fixed inputs a pruned network reproduces (a stand-in for validation accuracy that
    every channel moves; a random network's argmax barely changes)."""
    model = _tiny()
    generator = torch.Generator().manual_seed(1)
    calibration = [torch.randn(16, *SHAPE, generator=generator) for _ in range(2)]
    held_out = torch.randn(64, *SHAPE, generator=generator)
    with torch.no_grad():
        target = model(held_out)
    spread = float(((target - target.mean(0)) ** 2).sum())

    def fidelity(net: nn.Module) -> float:
        with torch.no_grad():
            return max(0.0, 1.0 - float(((net(held_out) - target) ** 2).sum()) / spread)

    example = calibration[0][:2]
    macs = count_cost(model, (1, *SHAPE)).macs
    return MethodInput(model, example, int(limit * macs), prunable_layers(model, example), calibration, seed=0,
                       score=fidelity if score == "fidelity" else score, workdir=workdir, options=dict(options))


def test_the_result_meets_the_limit_and_counts_as_fvcore(tmp_path):
    task = _task(0.5, workdir=tmp_path / "method")
    pruned = METHODS["amc"].run(task)
    found = amc_search(task)  # the finished search, read back from its checkpoint: nothing reruns
    assert found.resumed_from == found.episodes == FAST["episodes"]
    assert pruned.ratios == found.ratios and found.exact
    assert count_cost(pruned.model, (1, *SHAPE)).macs == found.macs <= task.limit
    assert min(pruned.ratios.values()) < 1.0  # the limit needs pruning
    assert 0.0 <= found.accuracy <= 1.0


def test_an_interrupted_search_ends_as_an_uninterrupted_one(tmp_path):
    whole = amc_search(_task())
    first = amc_search(_task(options={**FAST, "episodes": 4}, workdir=tmp_path / "a"))
    rest = amc_search(_task(workdir=tmp_path / "a"))
    assert (first.episodes, rest.resumed_from, rest.episodes) == (4, 4, FAST["episodes"])
    assert rest.ratios == whole.ratios and rest.accuracy == whole.accuracy and rest.episode == whole.episode
    # Stopped inside an episode (Ctrl-C while a policy is scored), then run again.
    calls = []
    task = _task(workdir=tmp_path / "b")

    def stops(net: nn.Module) -> float:
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return task.score(net)  # type: ignore[misc]

    with pytest.raises(KeyboardInterrupt):
        amc_search(_task(workdir=tmp_path / "b", score=stops))
    again = amc_search(task)
    assert 0 < again.resumed_from < again.episodes
    assert again.ratios == whole.ratios and again.accuracy == whole.accuracy


def test_a_checkpoint_of_other_settings_is_refused(tmp_path):
    amc_search(_task(options={**FAST, "episodes": 2}, workdir=tmp_path))
    with pytest.raises(RunFolderError, match="reward"):
        amc_search(_task(options={**FAST, "reward": "error_log_macs"}, workdir=tmp_path))


def test_accuracy_guaranteed_reward_also_meets_the_limit():
    task = _task(0.6, options={**FAST, "reward": "error_log_macs"})
    found = amc_search(task)
    assert found.macs <= task.limit and found.reward < 0 and found.accuracy < 1


@pytest.mark.parametrize(("options", "message"), [
    ({"episodes": 0}, "episodes must be a positive integer, got 0"),
    ({"episodes": "many"}, "episodes must be a positive integer, got 'many'"),
    ({"warmup": -1}, "warmup must be an integer >= 0, got -1"),
    ({"reward": "speed"}, "reward must be one of ['accuracy', 'error_log_macs'], got 'speed'"),
    ({"lbound": 0}, "lbound"),
    ({"lbound": 1.5}, "lbound"),
    ({"round_to": 0}, "round_to must be a positive integer"),
    ({"rounds": 3}, "amc has no setting(s) ['rounds']"),
])
def test_wrong_settings_are_refused(options, message):
    with pytest.raises(PruningError) as info:
        AmcSettings.from_options(options)
    assert message in str(info.value)


def test_defaults_follow_amc_and_name_the_methods_options():
    settings = AmcSettings.from_options({})
    assert settings.warmup == settings.episodes // 4 and settings.lbound == 0.2 and settings.reward == "accuracy"
    assert AmcSettings.from_options({"episodes": 40}).warmup == 10
    assert set(METHODS["amc"].options) == set(settings.__dataclass_fields__)


def test_a_search_needs_a_score_and_a_reachable_limit():
    with pytest.raises(PruningError, match="no score"):
        amc_search(_task(score=None))
    with pytest.raises(PruningError, match="cannot be met"):
        amc_search(_task(0.01))


def test_the_macs_model_is_the_pruned_networks_count_off_the_shortcuts():
    space = nasengine.get_space("channel_width", **SMALL)
    model = space.build(space.sample(0)).eval()
    x = torch.zeros(2, *SHAPE)
    decided = [info for info in prunable_layers(model, x) if not info.residual]
    layers = policy_layers(model, x, decided)
    assert layers.exact and layers.cost.original == count_cost(model, (1, *SHAPE)).macs
    rng = random.Random(0)
    for _ in range(3):
        ratios = [kept_channels(rng.uniform(0.2, 1.0), i.out_channels) / i.out_channels for i in decided]
        real = pruned_cost(model, x, {info.name: r for info, r in zip(decided, ratios)}).macs
        assert layers.cost.macs(ratios) == pytest.approx(real, rel=1e-12)


class _Concat(nn.Module):
    """Two branches concatenated into a third layer: its input has two owners."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(1, 4, 1)
        self.c = nn.Conv2d(12, 8, 3, padding=1)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.c(torch.cat([self.a(x), self.b(x)], 1)))
        return self.head(y.mean((2, 3)))


def test_the_macs_model_bounds_what_it_cannot_hold():
    model = _Concat().eval()
    x = torch.zeros(2, *SHAPE)
    decided = prunable_layers(model, x)
    layers = policy_layers(model, x, decided)
    assert len(decided) == 3 and not layers.exact  # c pairs with both a and b: one partner is bounded
    rng = random.Random(1)
    for _ in range(5):
        ratios = [kept_channels(rng.uniform(0.1, 1.0), i.out_channels) / i.out_channels for i in decided]
        real = pruned_cost(model, x, {info.name: r for info, r in zip(decided, ratios)}).macs
        assert layers.cost.macs(ratios) >= real - 1e-6


def _argv(export_folder, out, *extra: str) -> list[str]:
    return ["compress", "--model", str(export_folder), "--max-macs", "50%", "--method", "amc", "--set", "episodes=4",
            "--set", "warmup=2", "--calibration-images", "32", "--out", str(out), "--quiet", *extra]


def test_the_command_searches_writes_and_resumes(capsys, export_folder, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, *_argv(export_folder, out))
    assert code == 0, stderr
    assert stdout.startswith("amc: ")
    record = json.loads((out / "compress.json").read_text())
    assert record["method"] == "amc" and record["config"]["options"] == {"episodes": 4, "warmup": 2}
    assert count_cost(nasengine.load(out), (1, *record["input_shape"])).macs == record["cost"]["macs"]
    assert record["cost"]["macs"] <= record["limit_macs"] and (out / "method" / "amc.pt").is_file()
    # Stopped before it wrote its outputs: the same command resumes the search instead of refusing --out.
    for path in out.iterdir():
        if path.name not in ("method", "settings.json"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    code, _, stderr = run_cli(capsys, *_argv(export_folder, out))
    assert code == 0, stderr
    again = json.loads((out / "compress.json").read_text())
    assert again["ratios"] == record["ratios"] and again["cost"] == record["cost"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--set", "episodes=0"], "episodes must be a positive integer, got 0"),
    (["--set", "reward=fast"], "reward must be one of ['accuracy', 'error_log_macs'], got 'fast'"),
    (["--set", "speed=1"], "has no setting(s) ['speed']"),
    (["--max-macs", "5%"], "cannot be met"),
])
def test_bad_settings_are_one_line_errors(capsys, export_folder, tmp_path, extra, message):
    code, _, stderr = run_cli(capsys, *_argv(export_folder, tmp_path / "o"), *extra)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
