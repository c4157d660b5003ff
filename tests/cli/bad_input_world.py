"""The files the bad-input matrix (``test_bad_input.py``) points commands at: one finished
replayed search run and its tables, plus broken variants of every kind of file a command
reads (corrupt, wrong JSON shape, missing keys, NaN / negative numbers, another space)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from nasengine.search.config import SearchConfig
from nasengine.search.runner import run_search
from nasengine.testing.controllers import SMALL, small_space
from tests.search_helpers import synthetic_table

#: ``--set`` options of the small shufflenet config every good file here is made for.
SMALL_SETS = " ".join(f"--set {k}={json.dumps(list(v) if isinstance(v, tuple) else v).replace(' ', '')}"
                      for k, v in SMALL.items())


def build_world(root: Path) -> None:
    """Write every file the cases name into ``root`` (paths in the cases are relative to it)."""
    space = small_space()
    table = synthetic_table(root / "table.json")
    cfg = SearchConfig(space="shufflenet", space_config=dict(SMALL), controller="random", evaluator="table",
                       evaluator_options={"path": "table.json"}, trials=4, top_k=1, max_macs=40_000, out="run")
    _run_in(root, cfg)
    _write_texts(root, {
        "corrupt.yaml": "trials: [1,\n", "list.yaml": "- 1\n- 2\n", "corrupt.json": "{not json",
        "list.json": "[1, 2]", "empty.json": "", "binary.json": "\udcff\udcfe",  # not UTF-8
        "afile": "a plain file\n", "partial.json.partial.jsonl": "{not json\n",
    })
    _write_tables(root, json.loads(table.read_text()))
    _write_latency_tables(root, space)
    _write_archs(root, space)
    _write_runs(root)


def _run_in(root: Path, cfg: SearchConfig) -> None:
    """Run the search from ``root``, so that the run records relative paths (the world is copied)."""
    here = Path.cwd()
    os.chdir(root)
    try:
        run_search(cfg, progress=False)
    finally:
        os.chdir(here)


def _write_texts(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).write_bytes(text.encode("utf-8", "surrogateescape"))


def _dump(root: Path, name: str, data: Any) -> None:
    (root / name).write_text(json.dumps(data))


def _write_tables(root: Path, good: dict[str, Any]) -> None:
    """Accuracy tables (``--evaluator table:FILE``, ``rankcheck --table``, ``bench task``)."""
    entries = good["entries"]
    # Two seeds per arch, as `bench task` and `bench value` need.
    _dump(root, "table2.json", {**good, "train": {"dataset": "digits", "epochs": 1},
                                "entries": [{**e, "accs": [e["acc"], e["acc"] * 0.9]} for e in entries]})
    _dump(root, "table_list.json", entries)
    _dump(root, "table_noacc.json", {**good, "entries": [{k: v for k, v in e.items() if k != "acc"} for e in entries]})
    _dump(root, "table_noentries.json", {k: v for k, v in good.items() if k != "entries"})
    _dump(root, "table_entries_dict.json", {**good, "entries": {"a": 1}})
    _dump(root, "table_entry_list.json", {**good, "entries": [[1, 2]]})
    _dump(root, "table_noid.json", {**good, "entries": [{k: v for k, v in e.items() if k != "id"} for e in entries]})
    (root / "table_nan.json").write_text(json.dumps({**good, "entries": [{**entries[0], "acc": float("nan")},
                                                                          *entries[1:]]}))
    _dump(root, "table_textacc.json", {**good, "entries": [{**entries[0], "acc": "high"}, *entries[1:]]})
    _dump(root, "table_big_acc.json", {**good, "entries": [{**entries[0], "acc": 7.5}, *entries[1:]]})
    _dump(root, "table_otherspace.json", {**good, "space": "nas_cell"})
    _dump(root, "table_noconfig.json", {k: v for k, v in good.items() if k != "config"})


def _write_latency_tables(root: Path, space: Any) -> None:
    """A latency table of the small space with invented timings, and broken variants of it."""
    keys = sorted({u.key for u in space.latency_units() if not u.fixed})
    good = {"format": "nasengine-latency/1", "space": space.name, "config": json.loads(json.dumps(space.config.to_dict())),
            "device": "cpu", "batch": 1, "threads": 1, "warmup": 1, "repeats": 3, "clock": "wall",
            "machine": {}, "created": "", "fixed_ms": 0.5, "glue_ms": 0.1, "overhead_ms": 0.6, "calibration": {},
            "entries": {k: 0.25 for k in keys}}
    _dump(root, "latency.json", good)
    first = keys[0]
    _dump(root, "latency_list.json", [good])
    _dump(root, "latency_noformat.json", {k: v for k, v in good.items() if k != "format"})
    _dump(root, "latency_noentries.json", {k: v for k, v in good.items() if k != "entries"})
    _dump(root, "latency_negative.json", {**good, "entries": {**good["entries"], first: -3000.0}})
    (root / "latency_nan.json").write_text(json.dumps({**good, "entries": {**good["entries"], first: float("nan")}}))
    _dump(root, "latency_negfixed.json", {**good, "fixed_ms": -1.0})
    (root / "latency_infglue.json").write_text(json.dumps({**good, "glue_ms": float("inf")}))
    _dump(root, "latency_textentry.json", {**good, "entries": {**good["entries"], first: "fast"}})
    _dump(root, "latency_baddevice.json", {**good, "device": "tpu"})
    _dump(root, "latency_zerobatch.json", {**good, "batch": 0})
    _dump(root, "latency_otherconfig.json", {**good, "config": {**good["config"], "num_classes": 7}})
    _dump(root, "latency_otherspace.json", {**good, "space": "nas_cell"})
    _dump(root, "latency_missingkey.json", {**good, "entries": {k: v for k, v in good["entries"].items() if k != first}})


def _write_archs(root: Path, space: Any) -> None:
    arch = space.sample(0)
    _dump(root, "arch.json", arch.to_dict())
    data = arch.to_dict()
    _dump(root, "arch_badchoice.json", {**data, "choices": {**data["choices"], "block0": "k9"}})
    _dump(root, "arch_missing.json", {**data, "choices": {k: v for k, v in list(data["choices"].items())[1:]}})
    _dump(root, "arch_choices_list.json", {**data, "choices": list(data["choices"].values())})
    _dump(root, "arch_nospace.json", {"config": data["config"], "choices": data["choices"]})
    _dump(root, "arch_unknownspace.json", {**data, "space": "nope"})
    _dump(root, "arch_badconfig.json", {**data, "config": {**data["config"], "input_size": -8}})
    _dump(root, "arch_config_list.json", {**data, "config": [1, 2]})
    _dump(root, "arch_hparams_list.json", {**data, "hparams": [1]})
    _dump(root, "arch_hparams_unknown.json", {**data, "hparams": {"lr": 0.1, "speed": 3}})
    _dump(root, "arch_hparams_nan.json", {**data, "hparams": {"lr": "nan"}})
    _dump(root, "arch_num.json", 833470002)


def _write_runs(root: Path) -> None:
    """Search run folders broken in one way each (copies of ``run``)."""
    for name in ("run_corrupt", "run_list", "run_empty_result", "run_badkey", "run_noresult", "run_nanacc",
                 "run_corrupt_config", "run_list_config", "run_corrupt_db", "run_corrupt_export"):
        shutil.copytree(root / "run", root / name)
    result = json.loads((root / "run" / "result.json").read_text())
    (root / "run_corrupt" / "result.json").write_text("{\"trials\": [")
    _dump(root, "run_list/result.json", [result])
    _dump(root, "run_empty_result/result.json", {})
    _dump(root, "run_badkey/result.json", {**result, "completed": "four"})
    (root / "run_noresult" / "result.json").unlink()
    first = result["trials"][0]
    (root / "run_nanacc" / "result.json").write_text(json.dumps(
        {**result, "trials": [{**first, "metrics": {"acc": float("nan")}}, *result["trials"][1:]]}))
    (root / "run_corrupt_config" / "config.yaml").write_text("trials: [1,\n")
    (root / "run_list_config" / "config.yaml").write_text("- 1\n- 2\n")
    (root / "run_corrupt_db" / "study.db").write_bytes(b"this is not an sqlite database" * 100)
    export = next((root / "run_corrupt_export" / "exports").iterdir())
    (export / "arch.json").write_text("{\"arch\": ")
    broken_exports = {"model_corrupt": "{\"space\": ", "model_list": "[1]", "model_nochoices": "{\"space\": \"shufflenet\"}"}
    for name, text in broken_exports.items():
        (root / name).mkdir()
        (root / name / "arch.json").write_text(text)
        (root / name / "weights.pt").write_bytes(b"")
    (root / "dyn_corrupt_config").mkdir()
    (root / "dyn_corrupt_config" / "config.yaml").write_text("method: [rnp,\n")
    (root / "dyn_nomodel").mkdir()
    (root / "dyn_badjson" / "model").mkdir(parents=True)
    (root / "dyn_badjson" / "model" / "dynamic.json").write_text("{bad")
