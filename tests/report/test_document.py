from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
from dataclasses import replace

import pytest
import torch
import yaml

from nasengine.cli.main import build_parser, main
from nasengine.cli.search import config_from_args
from nasengine.cost import count_cost, trace_cost
from nasengine.data import load_dataset
from nasengine.pareto import pareto_front
from nasengine.records import RankCheckRow, SearchResult
from nasengine.report import ReportConfig, make_report
from nasengine.report import baselines as baselines_module
from nasengine.report.baselines import (
    BaselineSpec,
    Candidate,
    RetrainConfig,
    build_baseline,
    check_baseline_input,
    parse_baseline,
    parse_baselines,
    retrain_all,
    train_seed,
)
from nasengine.report.runs import load_run, pareto_series, progress_curve, search_command
from nasengine.search.config import SearchConfig
from nasengine.search.rankcheck import record_check, summarize_check
from nasengine.search.runner import run_search
from nasengine.utils.timing import Timing

TINY = {"input_size": 8, "num_classes": 10, "in_channels": 1, "stem_channels": 8, "stem_stride": 1,
        "stage_repeats": [1, 1, 1, 1], "stage_channels": [16, 24, 32, 48], "last_channels": 64}
FAST = RetrainConfig(epochs=1, seeds=2, baseline_size=16, latency_runs=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real searches on digits: rl (keeps a reward log) and evolution (keeps none)."""
    root = tmp_path_factory.mktemp("runs")
    for controller in ("rl", "evolution"):
        cfg = SearchConfig(space="shufflenet", space_config=dict(TINY), controller=controller, dataset="digits",
                           epochs=1, trials=4, top_k=2, out=str(root / controller))
        run_search(cfg, progress=False)
    return root


def _with_extras(runs, tmp_path):
    """A copy of the rl run whose trials carry latency and whose result holds a rank check,
    stored by the function ``nasengine rankcheck`` records its check with."""
    run = tmp_path / "rl_extras"
    shutil.copytree(runs / "rl", run)
    result = SearchResult.load(run / "result.json")
    trials = tuple(replace(t, cost={**t.cost, "latency_ms": 1.0 + 0.1 * i}) for i, t in enumerate(result.trials))
    replace(result, trials=trials).save(run / "result.json")
    # One-shot 1..5 against standalone 3 1 2 5 4: tau 0.4, rho 0.6 (hand-computed in test_rankcheck).
    rows = [RankCheckRow(f"a{i}", 1000 * (i + 1), 0.1 * (i + 1), 0.5 + 0.05 * y, (0.5 + 0.05 * y,))
            for i, y in enumerate((3, 1, 2, 5, 4))]
    record_check(run, summarize_check(rows, epochs=2, seed=0, seeds=1, evaluator="supernet", seconds=1.0))
    return run


def _sections(md: str) -> list[str]:
    return re.findall(r"^## (.+)$", md, flags=re.M)


def test_report_has_sections_tables_and_embedded_figures(runs, tmp_path):
    out = tmp_path / "report"
    cfg = ReportConfig(runs=(str(runs / "rl"), str(runs / "evolution")), baselines=("torchvision:shufflenet_v2_x0_5",),
                       retrain=FAST, out=str(out), command="nasengine report ...")
    files = make_report(cfg, progress=False)
    md = files["markdown"].read_text()
    assert _sections(md) == ["Searches", "Found architectures vs baselines", "Accuracy vs cost",
                             "Search progress", "RL controller", "Published reference figures", "Setup", "Reproduce",
                             "Machine and versions"]
    assert "torchvision:shufflenet_v2_x0_5" in md and "| 3×16×16 |" in md and "| 1×8×8 |" in md
    assert "322.919M" in md  # the SPOS block-search preset counted by the space, next to the published 323M
    assert "carry no `latency_ms`" in md
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["pareto_latency.png", "pareto_macs.png", "progress.png", "rl_reward.png"]
    html = files["html"].read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(embedded) == len(pngs)
    assert base64.b64decode(embedded[0]) == (out / "pareto_macs.png").read_bytes()
    assert "<table>" in html and "src=\"pareto" not in html  # self-contained
    networks = [d for d in (out / "cache").iterdir() if d.is_dir() and d.name != "logreg-raw-pixels"]
    assert len(list((out / "cache" / "logreg-raw-pixels").glob("*.json"))) == 1  # the simple baseline, fitted once
    assert "| logistic regression (raw pixels) | simple baseline (scikit-learn) | 1×8×8 |" in md
    assert len(list((out / "cache").rglob("seed*.json"))) == FAST.seeds * len(networks) >= 2 * FAST.seeds


def test_a_second_report_reuses_the_cache(runs, tmp_path, monkeypatch):
    cfg = ReportConfig(runs=(str(runs / "evolution"),), retrain=FAST, out=str(tmp_path / "r"))
    first = make_report(cfg, progress=False)["markdown"].read_text()
    monkeypatch.setattr(baselines_module, "fit", lambda *a, **k: pytest.fail("a cached seed was retrained"))
    second = make_report(cfg, progress=False)["markdown"].read_text()
    table = lambda md: md.split("## Found")[1].split("## Accuracy")[0]  # noqa: E731
    assert table(first) == table(second)


def test_optional_parts_appear_only_when_present(runs, tmp_path):
    extras = _with_extras(runs, tmp_path)
    files = make_report(ReportConfig(runs=(str(extras),), retrain=FAST, out=str(tmp_path / "a")), progress=False)
    md = files["markdown"].read_text()
    assert "One-shot ranking" in _sections(md)
    assert "| rl_extras | 5 | 2 | 0 | 1 | supernet | 0.400 | 0.600 | — (one seed) | 1 s | — | — |" in md
    assert "carry no `latency_ms`" not in md and "rankcheck_0" in files
    files = make_report(ReportConfig(runs=(str(runs / "evolution"),), retrain=FAST, out=str(tmp_path / "b")),
                        progress=False)
    md = files["markdown"].read_text()
    assert not {"RL controller", "One-shot ranking"} & set(_sections(md))
    assert "rl_reward" not in files and not (tmp_path / "b" / "rl_reward.png").exists()


def test_pareto_series_matches_nasengine_pareto_and_the_search_result(runs):
    run = load_run(runs / "rl")
    series = pareto_series(run, "macs")
    points = [(float(r.cost["macs"]), r.metrics["acc"]) for r in run.completed]
    expected = sorted({points[i] for i in pareto_front([(a, c) for c, a in points], (True, False))})
    assert series["front"] == expected
    assert series["front"] == sorted({(float(r.cost["macs"]), r.metrics["acc"])
                                      for r in run.result.pareto_front["acc_vs_macs"]})
    assert pareto_series(run, "latency_ms") == {"points": [], "front": []}
    best = progress_curve(run)["best"]
    assert [b for _, b in best] == sorted(b for _, b in best) and best[-1][1] == run.result.best.metrics["acc"]


@pytest.mark.parametrize("spec", ["torchvision:shufflenet_v2_x0_5", "timm:mobilenetv3_small_050"])
def test_baselines_build_for_the_data_and_count_like_fvcore(spec):
    baseline = parse_baseline(spec)
    model = build_baseline(baseline, 10).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    check_baseline_input(baseline, 10, 32)
    assert count_cost(model, (3, 32, 32)) == trace_cost(model, (1, 3, 32, 32))  # fvcore vs forward hooks
    assert count_cost(model, (3, 32, 32)).macs < count_cost(model, (3, 64, 64)).macs


def test_baseline_specs_are_checked():
    assert parse_baselines("torchvision:shufflenet_v2_x0_5, timm:mobilenetv3_small_050") == [
        BaselineSpec("torchvision", "shufflenet_v2_x0_5"), BaselineSpec("timm", "mobilenetv3_small_050")]
    assert parse_baselines("") == []
    for bad, words in (("foo:bar", "allowed prefixes: torchvision:, timm:"), ("resnet18", "allowed prefixes"),
                       ("torchvision:nope", "list_models"), ("timm:nope", "list_models")):
        with pytest.raises(ValueError, match=re.escape(words)):
            parse_baseline(bad)


def test_training_is_cached_per_seed(tmp_path, monkeypatch):
    data = load_dataset("digits", image_size=8, channels=3)
    build = lambda: build_baseline(BaselineSpec("timm", "mobilenetv3_small_050"), 10)  # noqa: E731
    cfg = RetrainConfig(epochs=1, seeds=1)
    first = train_seed(build, data, cfg, 0, tmp_path)
    assert not list(tmp_path.rglob("*.ckpt"))
    monkeypatch.setattr(baselines_module, "fit", lambda *a, **k: pytest.fail("a cached seed was retrained"))
    assert train_seed(build, data, cfg, 0, tmp_path) == first


def test_latency_is_cached_per_input_size_and_timing(tmp_path, monkeypatch):
    timed: list[tuple[int, ...]] = []

    def fake_time(self, modules, **kwargs):
        timed.extend(shape for _, shape in modules)
        return [float(shape[1]) for _, shape in modules]  # the latency is the input size: stale values show

    monkeypatch.setattr(Timing, "time_modules", fake_time)
    monkeypatch.setattr(baselines_module, "train_seed",
                        lambda *a, **k: {"val_acc": 0.5, "test_acc": 0.5, "seconds": 0.0})
    build = lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),  # noqa: E731
                                        torch.nn.Flatten(), torch.nn.Linear(4, 10))

    def latency(size: int, runs: int = 3) -> float:
        cand = Candidate("net", "net", "test", build, (3, size, size), True)
        retrain_all([cand], RetrainConfig(seeds=1, baseline_size=size, latency_runs=runs),
                    lambda size, channels: None, tmp_path, progress=False)
        return cand.stats["latency_ms"]

    assert latency(16) == 16.0 and timed == [(3, 16, 16)]
    assert latency(16) == 16.0 and len(timed) == 1  # same settings: read from the cache
    assert latency(32) == 32.0 and timed[-1] == (3, 32, 32)  # another --baseline-size: timed again
    assert latency(16, runs=5) == 16.0 and len(timed) == 3  # other timing settings: timed again
    assert len(list((tmp_path / "net").glob("latency-*.json"))) == 3 and not list(tmp_path.rglob("*.tmp"))


def test_the_run_reader_refuses_keys_no_writer_writes(runs, tmp_path):
    """A rank check with the old ``K``/``tau``/``rho`` keys stops at the reader with one line
    naming the file and the key, instead of rendering a half-empty table."""
    run = tmp_path / "old"
    shutil.copytree(runs / "rl", run)
    result = json.loads((run / "result.json").read_text())
    result["rankcheck"] = {"K": 2, "tau": 1.0, "rho": 1.0, "rows": []}
    (run / "result.json").write_text(json.dumps(result))
    with pytest.raises(ValueError) as err:
        load_run(run)
    assert str(err.value) == (f"{run / 'result.json'}: bad key 'rankcheck.K': not a RankCheck key (expected samples, "
                              "epochs, seed, seeds, evaluator, kendall_tau, spearman_rho, seed_to_seed_tau, seconds, "
                              "rows, run, command)")
    del result["rankcheck"]
    result["trials"][0]["metrics"] = "high"
    (run / "result.json").write_text(json.dumps(result))
    with pytest.raises(ValueError, match=re.escape("result.json: bad key 'trials[0].metrics': expected a JSON object")):
        load_run(run)


def test_rebuilt_search_command_gives_the_same_config(runs):
    stored = yaml.safe_load((runs / "rl" / "config.yaml").read_text())
    argv = shlex.split(search_command(stored))
    assert argv[:2] == ["nasengine", "search"]
    rebuilt = config_from_args(build_parser().parse_args(argv[1:]))
    assert rebuilt.to_dict() == SearchConfig.resolve(runs / "rl" / "config.yaml").to_dict()


def test_cli_errors_are_one_line(runs, tmp_path, capsys):
    assert main(["report", str(runs / "rl"), "--baselines", "foo:bar", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("nasengine: error:") and "torchvision:, timm:" in err
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no result.json" in err
    assert main(["report", str(runs / "rl"), "--seeds", "0", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()


def test_rebuilt_search_command_keeps_options_evaluator_and_limits():
    stored = SearchConfig.resolve(None, space="shufflenet", space_config=dict(TINY), controller="rl",
                                  controller_options={"lr": 0.01, "dedup": False}, evaluator="table",
                                  evaluator_options={"path": "tables/t.json"}, max_macs=40000.0,
                                  objectives=("acc", "macs"), trials=7, out="runs/x")
    argv = shlex.split(search_command(yaml.safe_load(yaml.safe_dump(stored.to_dict()))))
    assert "table:tables/t.json" in argv and "acc,macs" in argv and "lr=0.01" in argv
    assert config_from_args(build_parser().parse_args(argv[1:])).to_dict() == stored.to_dict()


def test_random_archs_under_the_runs_limits_are_retrained_beside_the_found(runs, tmp_path, capsys):
    out = tmp_path / "with_random"
    code = main(["report", str(runs / "evolution"), "--random", "2", "--seeds", "2", "--epochs", "1",
                 "--baseline-size", "16", "--latency-runs", "3", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("retrained from scratch, 2 seed(s) x 1 epoch(s) each:\n")
    assert printed.count("random #") == 2 and "logistic regression" in printed.lower()
    md = (out / "report.md").read_text()
    assert "random #1 under run evolution's limits" in md and "random #2 under run evolution's limits" in md
    # the same archs on a rerun: seeded, and the cache answers
    assert main(["report", str(runs / "evolution"), "--random", "2", "--seeds", "2", "--epochs", "1",
                 "--baseline-size", "16", "--latency-runs", "3", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == printed
    assert main(["report", str(runs / "evolution"), "--random", "-1", "--out", str(out)]) == 2
