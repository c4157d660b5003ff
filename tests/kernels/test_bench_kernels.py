"""``nasengine bench kernels`` on a machine without CUDA: reference timings only."""

from __future__ import annotations

import json

import pytest
import torch

from nasengine.cli.main import main


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU rows")
def test_bench_kernels_cpu_reports_reference_only(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "kernels.json"
    assert main(["bench", "kernels", "--repeats", "1", "--device", "cpu", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    ops = {row["op"] for row in rows}
    assert {"gate_head[argmax]", "prefix_epilogue[training_fwd_bwd]", "route_buckets", "unbucket"} <= ops
    assert all(row["ref_ms"] > 0 and row["fused_ms"] is None and row["speedup"] is None for row in rows)
    assert all(row["fused"] == "unavailable: needs CUDA" and row["device"] == "cpu" for row in rows)
    assert all(set(row) >= {"N", "C", "H", "W", "dtype"} for row in rows)
    assert "timing the reference only" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_bench_kernels_rejects_missing_cuda(tmp_path, capsys):
    assert main(["bench", "kernels", "--device", "cuda", "--out", str(tmp_path / "k.json")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
