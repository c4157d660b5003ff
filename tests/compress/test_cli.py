"""``nasengine compress`` end to end on a tiny digits network, and its bad inputs."""

from __future__ import annotations

import json

import pytest
import torch

import nasengine
from nasengine.cost import count_cost
from tests.cli_helpers import run_cli


class _Program(torch.nn.Module):
    """A loaded ``torch.export`` program, which refuses ``.eval()`` (it is in eval mode already)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def train(self, mode: bool = True) -> _Program:
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


SMALL = dict(backbone="small", input_size=8, num_classes=10, in_channels=1)


@pytest.fixture(scope="module")
def export_folder(tmp_path_factory):
    """An export folder of a small digits network (arch.json + weights.pt)."""
    space = nasengine.get_space("channel_width", **SMALL)
    arch = space.sample(0)
    folder = tmp_path_factory.mktemp("source")
    (folder / "arch.json").write_text(json.dumps(arch.to_dict()))
    torch.manual_seed(0)
    torch.save(space.build(arch).state_dict(), folder / "weights.pt")
    return folder


@pytest.mark.parametrize("method", ["uniform", "l1", "lasso"])
def test_compress_meets_the_limit_and_counts_as_fvcore(capsys, export_folder, tmp_path, method):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "compress", "--model", str(export_folder), "--max-macs", "50%",
                                   "--method", method, "--calibration-images", "64", "--out", str(out), "--quiet")
    assert code == 0, stderr
    record = json.loads((out / "compress.json").read_text())
    assert record["cost"]["macs"] <= record["limit_macs"] == record["source_cost"]["macs"] // 2
    model = _Program(nasengine.load(out / "model.pt2", trusted=True))
    state = torch.load(out / "weights.pt", weights_only=True)
    assert count_cost(model, (1, *record["input_shape"])).macs == record["cost"]["macs"]
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) \
        == record["cost"]["params"]
    assert max(record["parity"].values()) < 1e-4


def test_fine_tuning_runs_and_is_recorded(capsys, export_folder, tmp_path):
    code, _, stderr = run_cli(capsys, "compress", "--model", str(export_folder), "--max-macs", "0.6", "--method", "l1",
                              "--finetune-epochs", "1", "--out", str(tmp_path / "ft"), "--quiet")
    assert code == 0, stderr
    record = json.loads((tmp_path / "ft" / "compress.json").read_text())
    assert record["epochs"] == 1 and record["finetuned_val_acc"] is not None


@pytest.mark.parametrize(("extra", "message"), [
    (["--max-macs", "10"], "cannot be met"),
    (["--max-macs", "150%"], "relative limit"),
    (["--max-macs", "lots"], "is not a limit"),
])
def test_bad_limits_are_one_line_errors(capsys, export_folder, tmp_path, extra, message):
    code, _, stderr = run_cli(capsys, "compress", "--model", str(export_folder), "--out", str(tmp_path / "o"), *extra)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1


def test_bad_models_and_weights_are_one_line_errors(capsys, export_folder, tmp_path):
    cases = [
        (["--model", "nothing-here"], "neither an export folder"),
        (["--model", "torchvision:resnet18"], "needs --weights"),
        (["--model", "torchvision:no_such_net", "--weights", str(export_folder / "weights.pt")], "no such"),
        (["--model", "timm:resnet18", "--weights", str(export_folder / "weights.pt")], "do not fit"),
    ]
    for extra, message in cases:
        code, _, stderr = run_cli(capsys, "compress", "--max-macs", "50%", "--out", str(tmp_path / "o"), *extra)
        assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, (extra, stderr)


def test_refuses_to_overwrite_without_force(capsys, export_folder, tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("")
    code, _, stderr = run_cli(capsys, "compress", "--model", str(export_folder), "--max-macs", "50%",
                              "--out", str(tmp_path / "o"))
    assert code == 2 and "--force" in stderr
