"""``nasengine quantize`` end to end on a tiny digits network."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import run_cli

HAQ = ["--method", "haq", "--set", "episodes=4", "--set", "warmup=2", "--calibration-images", "64", "--quiet"]


def _record(folder):
    return json.loads((folder / "quantize.json").read_text())


@pytest.mark.parametrize("bits", [8, 4])
def test_uniform_policies_record_their_exact_size(capsys, export_folder, tmp_path, bits):
    out = tmp_path / f"u{bits}"
    code, stdout, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), "--method", "uniform",
                                   "--bits", str(bits), "--calibration-images", "64", "--out", str(out), "--quiet")
    assert code == 0, stderr
    record = _record(out)
    policy = list(record["policy"].values())
    assert policy[0] == policy[-1] == [8, 8] and all(p == [bits, bits] for p in policy[1:-1])
    weights = {layer["name"]: layer["weights"] for layer in record["layers"]}
    fixed = record["size_bits"] - sum(weights[name] * w for name, (w, _) in record["policy"].items())
    assert fixed == record["float_size_bits"] - 32 * sum(weights.values()) + 32 * sum(
        layer["out_channels"] + 2 for layer in record["layers"])
    assert record["bitops"] == sum(layer["macs"] * w * a for layer, (w, a) in zip(record["layers"], policy))
    assert record["search"] is None and record["finetuned_val_acc"] is None and "uniform" in stdout


def test_haq_meets_a_size_limit_fine_tunes_and_resumes(capsys, export_folder, tmp_path):
    out = tmp_path / "haq"
    argv = ["quantize", "--model", str(export_folder), "--max-size", "15%", *HAQ, "--finetune-epochs", "1",
            "--out", str(out)]
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 0, stderr
    record = _record(out)
    assert record["size_bits"] <= record["limit"]["value"] == int(0.15 * record["float_size_bits"])
    assert record["limit"]["kind"] == "size" and record["search"]["episodes"] == 4
    assert record["epochs"] == 1 and record["finetuned_val_acc"] is not None
    # only weight bits cost size: activations stay at --max-bits and the agent decides weights only
    assert all(a == 8 for _, a in record["policy"].values())
    assert 0 <= record["quantized_test_acc"] <= 1 and 0 <= record["float_test_acc"] <= 1
    assert (out / "method" / "haq.pt").is_file() and (out / "packed.pt").is_file()
    # the same command again resumes the finished search and fine-tune: the same result
    code, _, stderr = run_cli(capsys, *argv)
    assert code == 0, stderr
    again = _record(out)
    assert again["policy"] == record["policy"] and again["finetuned_val_acc"] == record["finetuned_val_acc"]
    code, _, stderr = run_cli(capsys, *argv, "--seed", "1")
    assert code == 2 and "seed 0 -> 1" in stderr and len(stderr.strip().splitlines()) == 1


def test_haq_meets_a_bitops_limit(capsys, export_folder, tmp_path):
    out = tmp_path / "ops"
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), "--max-bitops", "3%", *HAQ,
                              "--first-last-bits", "0", "--out", str(out))
    assert code == 0, stderr
    record = _record(out)
    assert record["bitops"] <= record["limit"]["value"] == int(0.03 * record["float_bitops"])
    assert all(2 <= b <= 8 for pair in record["policy"].values() for b in pair)


@pytest.mark.parametrize(("args", "needle"), [
    ([*HAQ, "--max-size", "1%"], "cannot be met"),
    ([*HAQ, "--max-size", "100"], "cannot be met"),
    (["--method", "uniform", "--bits", "8", "--max-size", "20%"], "uniform 8-bit"),
])
def test_limits_that_cannot_be_met_are_one_line_errors(capsys, export_folder, tmp_path, args, needle):
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), *args,
                              "--out", str(tmp_path / "x"))
    assert code == 2 and needle in stderr and len(stderr.strip().splitlines()) == 1


def test_act_bits_fix_every_inner_activation(capsys, export_folder, tmp_path):
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), "--method", "uniform", "--bits", "4",
                              "--act-bits", "8", "--calibration-images", "64", "--out", str(tmp_path / "w4a8"), "--quiet")
    assert code == 0, stderr
    inner = list(_record(tmp_path / "w4a8")["policy"].values())[1:-1]
    assert inner and all(pair == [4, 8] for pair in inner)
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), "--max-bitops", "10%", *HAQ,
                              "--act-bits", "5", "--out", str(tmp_path / "haq"))
    assert code == 0, stderr
    record = _record(tmp_path / "haq")
    assert all(a == 5 for _, a in list(record["policy"].values())[1:-1])
    assert record["bitops"] <= record["limit"]["value"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--method", "uniform", "--act-bits", "9"], "--act-bits 9 is outside 2..8"),
    ([*HAQ, "--max-size", "30%", "--min-bits", "4", "--max-bits", "4"], "nothing to search"),
])
def test_bit_settings_that_leave_nothing_valid_are_one_line_errors(capsys, export_folder, tmp_path, args, needle):
    code, _, stderr = run_cli(capsys, "quantize", "--model", str(export_folder), *args, "--out", str(tmp_path / "x"))
    assert code == 2 and needle in stderr and len(stderr.strip().splitlines()) == 1
