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


@pytest.mark.parametrize("method", ["uniform", "l1", "lasso"])  # amc: test_amc_method.py
def test_compress_meets_the_limit_and_counts_as_fvcore(capsys, export_folder, tmp_path, method):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "compress", "--model", str(export_folder), "--max-macs", "50%",
                                   "--method", method, "--calibration-images", "64", "--out", str(out), "--quiet")
    assert code == 0, stderr
    record = json.loads((out / "compress.json").read_text())
    assert record["cost"]["macs"] <= record["limit_macs"] == record["source_cost"]["macs"] // 2
    shape = (1, *record["input_shape"])
    rebuilt = nasengine.load(out)  # the source's code, the recorded channels, weights.pt
    program = _Program(nasengine.load(out / "model.pt2", trusted=True))
    assert count_cost(rebuilt, shape) == count_cost(program, shape) == nasengine.Cost(**record["cost"])
    x = torch.randn(3, *record["input_shape"])
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), program(x), atol=1e-5)
    assert set(record["parity"]) >= {"state_dict", "pt2"} and max(record["parity"].values()) < 1e-4


def test_a_torchvision_network_is_compressed_and_reloaded(capsys, tmp_path):
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "r18.pt")
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "compress", "--model", "torchvision:resnet18", "--weights", str(tmp_path / "r18.pt"),
                              "--image-size", "16", "--max-macs", "40%", "--method", "l1", "--calibration-images", "16",
                              "--out", str(out), "--quiet")
    assert code == 0, stderr
    record = json.loads((out / "compress.json").read_text())
    assert record["source"]["kind"] == "torchvision" and record["channels"]["layer1.0.conv1"] < 64
    assert count_cost(nasengine.load(out), (1, 3, 16, 16)).macs == record["cost"]["macs"] <= record["limit_macs"]


def test_fine_tuning_runs_is_recorded_and_resumes(capsys, export_folder, tmp_path):
    argv = ["compress", "--model", str(export_folder), "--max-macs", "0.6", "--method", "l1", "--finetune-epochs", "1",
            "--out", str(tmp_path / "ft"), "--quiet"]
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 0, stderr
    record = json.loads((tmp_path / "ft" / "compress.json").read_text())
    assert record["epochs"] == 1 and record["finetuned_val_acc"] is not None
    assert any((tmp_path / "ft" / "tb").iterdir())  # TensorBoard logs of the fine-tuning
    # Unused later options are not settings: a run interrupted before they existed resumes.
    assert not {"max_latency_ms", "latency_table"} & set(json.loads((tmp_path / "ft" / "settings.json").read_text()))
    # The same command again finds the fine-tuning checkpoint and resumes from it (here: already done).
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 0, stderr
    again = json.loads((tmp_path / "ft" / "compress.json").read_text())
    assert again["finetuned_val_acc"] == record["finetuned_val_acc"] and again["cost"] == record["cost"]
    # Under other settings it is refused in one line, and the folder is left as it was.
    before = (tmp_path / "ft" / "compress.json").read_text()
    code, _, stderr = run_cli(capsys, *argv[:-1], "--lr", "0.5", "--quiet")
    assert code == 2 and "lr 0.01 -> 0.5" in stderr and len(stderr.strip().splitlines()) == 1
    assert (tmp_path / "ft" / "compress.json").read_text() == before


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


def test_a_timm_network_is_compressed_and_reloaded(capsys, tmp_path):
    import timm

    torch.manual_seed(0)
    torch.save(timm.create_model("mobilenetv3_small_050", num_classes=10).state_dict(), tmp_path / "m.pt")
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "compress", "--model", "timm:mobilenetv3_small_050", "--weights",
                              str(tmp_path / "m.pt"), "--image-size", "16", "--max-macs", "60%", "--method", "uniform",
                              "--out", str(out), "--quiet")
    assert code == 0, stderr
    record = json.loads((out / "compress.json").read_text())
    assert count_cost(nasengine.load(out), (1, 3, 16, 16)).macs == record["cost"]["macs"] <= record["limit_macs"]


def test_any_module_compresses_from_python_and_loads_from_its_program(tmp_path):
    from torch import nn

    from nasengine.compress import CompressConfig, SourceModel, compress
    from nasengine.data import load_dataset
    from nasengine.export import export_compressed
    from nasengine.utils.safe_load import CheckpointError

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    source = SourceModel(net.eval(), (1, 8, 8), 10, {"kind": "module"})
    model, record = compress(source, load_dataset("digits"), CompressConfig(method="lasso", max_macs="50%",
                                                                            calibration_images=64))
    assert count_cost(model, (1, 1, 8, 8)).macs == record.cost["macs"] <= record.limit_macs
    written = export_compressed(model, record, tmp_path / "c")
    assert set(written.parity) == {"pt2"} or set(written.parity) == {"pt2", "onnx"}  # no code to rebuild it from
    with pytest.raises(CheckpointError):
        nasengine.load(tmp_path / "c")
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(nasengine.load(tmp_path / "c", trusted=True)(x), model(x), atol=1e-5)
