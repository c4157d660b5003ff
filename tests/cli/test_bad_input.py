"""Bad input, command by command and through the Python API: every case stops with one line
naming the offending value or file (exit code 2 on the command line), before any file in the
working folder is written, changed or removed."""

from __future__ import annotations

import math
import shlex
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

import nasengine
from nasengine.arch import Arch
from nasengine.cli.main import main
from nasengine.cost import parse_amount
from nasengine.dynamic.trainer import DynamicTrainConfig
from nasengine.evaluators.table import read_table
from nasengine.latency.table import LatencyTable
from nasengine.records import SearchResult
from nasengine.registry import get_space
from nasengine.search.config import SearchConfig
from nasengine.testing.controllers import SMALL, small_space
from nasengine.train.loop import TrainConfig
from tests.cli.bad_input_cases import CASES
from tests.cli.bad_input_world import build_world

NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    build_world(root)
    return root


@pytest.fixture()
def here(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the world as the current folder."""
    folder = tmp_path / "w"
    shutil.copytree(world, folder)
    monkeypatch.chdir(folder)
    return folder


def snapshot(folder: Path) -> dict[str, Any]:
    """Every file and folder under ``folder`` with its modification time and content."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else "dir")
            for p in folder.rglob("*")}


def test_the_matrix_is_large_and_its_ids_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) >= 200 and len(set(ids)) == len(ids)
    commands = {shlex.split(argv)[0] for _, argv, _ in CASES if argv}
    assert commands >= {"space", "cost", "train", "search", "show", "latency", "export", "dynamic", "tabulate",
                        "rankcheck", "report", "bench"}


@pytest.mark.parametrize("argv, needle", [(argv, needle) for _, argv, needle in CASES],
                         ids=[case[0] for case in CASES])
def test_a_bad_command_line_is_one_line_exit_2_and_writes_nothing(here, capsys, argv, needle):
    before = snapshot(here)
    try:
        code = main(shlex.split(argv))
    except SystemExit as exc:  # the parser's own errors
        code = exc.code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("nasengine: error: "), err
    assert needle in lines[0], err
    after = snapshot(here)
    assert after == before, sorted(k for k in {*before, *after} if before.get(k) != after.get(k))


def _arch() -> Arch:
    return small_space().sample(0)


def _other_config() -> Any:
    return get_space("shufflenet", **{**SMALL, "num_classes": 7})


def _width_arch_elsewhere(call: str) -> Callable[[], Any]:
    def run() -> Any:
        arch = get_space("channel_width", input_size=32).sample(0)
        return getattr(get_space("channel_width", input_size=64), call)(arch)
    return run


def _cell_arch_elsewhere() -> Any:
    arch = get_space("nas_cell", blocks=2).sample(0)
    return get_space("nas_cell", blocks=2, num_classes=5).cost(arch)


def _choices(**changes: Any) -> dict[str, Any]:
    return {**dict(_arch().choices), **changes}


API_CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("get-space-unknown", lambda: get_space("nope"), "'nope'"),
    ("get-space-negative-size", lambda: get_space("shufflenet", input_size=-1), "input_size"),
    ("get-space-unknown-key", lambda: get_space("shufflenet", bogus=1), "bogus"),
    ("get-space-nan-dropout", lambda: get_space("shufflenet", dropout=NAN), "dropout"),
    ("get-space-text-size", lambda: get_space("shufflenet", input_size="32"), "input_size"),
    ("get-space-cell-blocks", lambda: get_space("nas_cell", blocks=0), "blocks"),
    ("get-space-widths-empty", lambda: get_space("channel_width", widths=()), "widths"),
    ("arch-bad-option", lambda: small_space().arch(_choices(block0="k9")), "'k9'"),
    ("arch-unknown-decision", lambda: small_space().arch(_choices(wing="k3")), "wing"),
    ("arch-missing-decision", lambda: small_space().arch({"block0": "k3"}), "block1"),
    ("arch-not-a-mapping", lambda: small_space().arch(["k3"]), "list"),
    ("arch-index-out-of-range", lambda: small_space().arch_from_indices([9] * len(small_space().decisions())),
     "index 9"),
    ("cost-other-config", lambda: _other_config().cost(_arch()), "num_classes"),
    ("build-other-config", lambda: _other_config().build(_arch()), "num_classes"),
    ("cost-other-space", lambda: get_space("nas_cell").cost(_arch()), "'shufflenet'"),
    ("build-other-space", lambda: get_space("channel_width").build(_arch()), "'shufflenet'"),
    ("cost-width-other-size", _width_arch_elsewhere("cost"), "input_size"),
    ("build-width-other-size", _width_arch_elsewhere("build"), "input_size"),
    ("cost-cell-other-classes", _cell_arch_elsewhere, "num_classes"),
    ("arch-json-list", lambda: Arch.from_json("[1]"), "object"),
    ("arch-json-corrupt", lambda: Arch.from_json("{"), "JSON"),
    ("arch-dict-no-choices", lambda: Arch.from_dict({"space": "shufflenet"}), "choices"),
    ("train-config-lr-nan", lambda: TrainConfig(lr=NAN), "lr"),
    ("train-config-lr-text", lambda: TrainConfig(lr="0.1"), "'0.1'"),
    ("train-config-wd-negative", lambda: TrainConfig(weight_decay=-1.0), "weight_decay"),
    ("train-config-wd-nan", lambda: TrainConfig(weight_decay=NAN), "weight_decay"),
    ("train-config-epochs-zero", lambda: TrainConfig(epochs=0), "epochs"),
    ("train-config-optimizer", lambda: TrainConfig(optimizer="adam"), "'adam'"),
    ("search-config-trials", lambda: SearchConfig(trials=0), "trials"),
    ("search-config-max-macs-nan", lambda: SearchConfig(max_macs=NAN), "nan"),
    ("search-config-max-macs-inf", lambda: SearchConfig(max_macs=INF), "inf"),
    ("search-config-timeout-nan", lambda: SearchConfig(timeout=NAN), "timeout"),
    ("search-config-storage", lambda: SearchConfig(storage="foo://x"), "foo://x"),
    ("search-config-device", lambda: SearchConfig(device="foo"), "'foo'"),
    ("search-config-out-file", lambda: SearchConfig(out="afile"), "afile"),
    ("search-config-objectives", lambda: SearchConfig(objectives=("macs",)), "macs"),
    ("search-config-yaml", lambda: SearchConfig.resolve("corrupt.yaml"), "corrupt.yaml"),
    ("dynamic-config-penalty-nan", lambda: DynamicTrainConfig(penalty=NAN), "penalty"),
    ("dynamic-config-penalty-inf", lambda: DynamicTrainConfig(penalty=INF), "penalty"),
    ("dynamic-config-wd-nan", lambda: DynamicTrainConfig(weight_decay=NAN), "weight_decay"),
    ("dynamic-config-lr-nan", lambda: DynamicTrainConfig(lr=NAN), "lr"),
    ("load-missing", lambda: nasengine.load("missing"), "missing"),
    ("load-not-an-export", lambda: nasengine.load("run_noresult"), "run_noresult"),
    ("load-corrupt-arch", lambda: nasengine.load("model_corrupt"), "model_corrupt"),
    ("load-arch-list", lambda: nasengine.load("model_list"), "model_list"),
    ("load-arch-no-choices", lambda: nasengine.load("model_nochoices"), "choices"),
    ("latency-table-negative", lambda: LatencyTable.load("latency_negative.json"), "-3000"),
    ("latency-table-list", lambda: LatencyTable.load("latency_list.json"), "latency_list.json"),
    ("accuracy-table-no-acc", lambda: read_table("table_noacc.json"), "'acc'"),
    ("accuracy-table-list", lambda: read_table("table_list.json"), "table_list.json"),
    ("search-result-nan", lambda: SearchResult.load("run_nanacc/result.json"), "NaN"),
    ("search-result-list", lambda: SearchResult.load("run_list/result.json"), "result.json"),
    ("amount-inf", lambda: parse_amount("inf"), "'inf'"),
    ("amount-nan-float", lambda: parse_amount(NAN), "nan"),
]


@pytest.mark.parametrize("call, needle", [(call, needle) for _, call, needle in API_CASES],
                         ids=[case[0] for case in API_CASES])
def test_bad_python_api_input_is_refused_in_one_line(here, call, needle):
    before = snapshot(here)
    with pytest.raises((ValueError, KeyError, FileNotFoundError)) as info:
        call()
    message = str(info.value.args[0]) if info.value.args else str(info.value)
    assert needle in message and "\n" not in message, message
    assert snapshot(here) == before


def test_json_records_are_standard_even_with_an_undefined_statistic(tmp_path):
    from nasengine.utils.files import save_json_atomic

    path = save_json_atomic({"kendall_tau": NAN, "max_macs": INF, "rows": [1.5]}, tmp_path / "r.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert nasengine.records.read_json(path) == {"kendall_tau": None, "max_macs": None, "rows": [1.5]}


def test_a_read_only_output_folder_is_refused_before_any_work(here, capsys, monkeypatch):
    # Tests may run as root, for whom nothing is read-only: ask os.access as a normal user would be answered.
    monkeypatch.setattr("nasengine.utils.validation.os.access", lambda path, mode: False)
    before = snapshot(here)
    assert main(["space", "sample", "shufflenet", "--out", "new/a.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nasengine: error: --out 'new/a.json' cannot be written") and "read-only" in err
    assert err.count("\n") == 1 and snapshot(here) == before


def test_a_permission_error_inside_a_run_is_one_line(capsys, monkeypatch):
    from nasengine.cli import space as cli_space

    def denied(args: Any) -> int:
        raise PermissionError(13, "Permission denied", "run/exports/abc/arch.json")

    monkeypatch.setattr(cli_space, "cmd_spaces", denied)
    assert main(["spaces"]) == 2
    assert capsys.readouterr().err == "nasengine: error: 'run/exports/abc/arch.json': permission denied\n"
