"""Export architectures found by a search as ready-to-use folders.

``export_top`` (run by every search) writes ``exports/<arch-id>/{arch.json, weights.pt}``.
``export_run`` (``nasengine export``) adds the deployable forms: ``model.pt2`` (a
``torch.export`` program), ``model.onnx`` (with the ``onnx`` extra) and ``parity.json``, the
largest output difference of each form from the in-memory model on fixed seeded inputs; a
difference above the tolerance fails the export. The forms are the formats registered in
``EXPORT_FORMATS`` (``nasengine.export.formats``).
"""

from __future__ import annotations

import glob
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.data import DataSplits
from nasengine.evaluators.base import Evaluator
from nasengine.export.formats import EXPORT_FORMATS, format_names
from nasengine.export.load import read_arch
from nasengine.records import FRONTS, ExportRecord, ParityInputs, ParityRecord, Preprocessing, SearchResult, TrialRecord
from nasengine.records.base import read_json
from nasengine.records.export import preprocessing_in
from nasengine.space import SearchSpace
from nasengine.utils.files import jsonable
from nasengine.utils.run_folder import refuse_existing
from nasengine.utils.safe_load import load_checkpoint
from nasengine.utils.validation import output_path


class ExportError(ValueError):
    """An export cannot be written or does not reproduce the model."""


def top_rows(result: SearchResult, k: int) -> list[TrialRecord]:
    """Best ``k`` completed trials by accuracy; multi-objective searches take them from
    the Pareto front of accuracy against their first cost objective first."""
    done = [r for r in result.trials if r.state == "COMPLETE"]
    if len(result.objectives) > 1:
        front_ids = {r.number for r in result.pareto_front[FRONTS[result.objectives[1]]]}
        done.sort(key=lambda r: (r.number not in front_ids, -r.acc, r.number))
    else:
        done.sort(key=lambda r: (-r.acc, r.number))
    unique, seen = [], set()
    for row in done:
        if row.arch_id not in seen:
            seen.add(row.arch_id)
            unique.append(row)
    return unique[:k]


def data_preprocessing(evaluator: Evaluator | None) -> Preprocessing | None:
    """The input preparation of the data ``evaluator`` trains and validates on; ``None``
    for an evaluator without data of its own (a table replay), which cannot tell it."""
    data = getattr(evaluator, "data", None)  # train and one-shot evaluators keep their DataSplits there
    return Preprocessing.from_dict(data.preprocessing()) if isinstance(data, DataSplits) else None


def export_top(out: str | Path, space: SearchSpace, result: SearchResult | dict[str, Any], k: int,
               evaluator: Evaluator | None = None, *, weights_dir: str | Path | None = None) -> list[Path]:
    """Write the top ``k`` architectures; test accuracy is measured here, and only here.

    ``result`` is the run's record, or its dict as ``run_search`` returns it. Each
    ``arch.json`` records the preprocessing of ``evaluator``'s data, when it has data.
    Trained weights are read from ``weights_dir`` (default ``out/weights``).
    """
    out = Path(out)
    if not isinstance(result, SearchResult):
        result = SearchResult.from_dict(result, str(out / "result.json"))
    folders = []
    preprocessing = data_preprocessing(evaluator)
    for row in top_rows(result, k):
        arch = space.arch(row.choices)
        folder = out / "exports" / arch.id
        folder.mkdir(parents=True, exist_ok=True)
        metrics = {"val_acc": row.acc, **{k: v for k, v in row.metrics.items() if k != "acc"}}
        weights = Path(weights_dir or out / "weights") / f"{arch.id}.pt"
        if weights.exists():
            shutil.copyfile(weights, folder / "weights.pt")
            if evaluator is not None:
                model = space.build(arch)
                model.load_state_dict(load_checkpoint(weights, what="weights"))
                test = evaluator.test_accuracy(arch, model)
                if test is not None:
                    metrics["test_acc"] = test
        ExportRecord.of(arch, space.cost(arch).to_dict(), metrics, row.number, preprocessing=preprocessing,
                        hparams=row.hparams).save(folder / "arch.json")
        folders.append(folder)
    return folders


def parse_formats(text: str | None) -> tuple[tuple[str, ...], bool]:
    """``"pt2,onnx"`` -> formats and whether they were asked for explicitly (``None``: all)."""
    if text is None:
        return format_names(), False
    formats = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if not formats:
        raise ExportError(f"--format {text!r} names no format; choose from {', '.join(format_names())}")
    if bad:
        raise ExportError(f"unknown export format(s) {bad}; choose from {', '.join(format_names())}")
    return tuple(name for name in format_names() if name in formats), True  # written in the registry's order


def unavailable_formats(formats: Sequence[str]) -> dict[str, str]:
    """``{format: what it needs}`` for those of ``formats`` that cannot be written here."""
    missing = {name: EXPORT_FORMATS.get(name).missing() for name in formats}
    return {name: need for name, need in missing.items() if need is not None}


def parity_inputs(space: SearchSpace, *, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """The fixed inputs every exported form is compared on."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(space.input_shape(batch), generator=generator)


def export_model(space: SearchSpace, arch: Arch, model: nn.Module, folder: str | Path,
                 formats: Sequence[str] | None = None, *, tolerance: float = 1e-4, seed: int = 0) -> ParityRecord:
    """Write ``formats`` (default all) of ``model`` (built for ``arch``) into ``folder`` with
    ``parity.json``.

    Each form is reloaded from disk and run on ``parity_inputs``; its largest absolute
    difference from ``model`` must be at most ``tolerance * max(1, max |output|)``.
    Returns the parity record; raises ``ExportError`` on a mismatch.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    x = parity_inputs(space, seed=seed)
    with torch.no_grad():
        reference = model(x)
    bound = tolerance * max(1.0, reference.abs().max().item())
    diffs: dict[str, float] = {}
    notes: list[str] = []
    for name in format_names() if formats is None else formats:
        need = EXPORT_FORMATS.get(name).missing()
        if need is not None:
            raise ExportError(f"the {name} format needs {need}")
        diffs[name], more = EXPORT_FORMATS.get(name).write(space, arch, model, x, reference, folder)
        notes += more
    record = ParityRecord(arch_id=arch.id, inputs=ParityInputs(tuple(x.shape), seed, "float32"), tolerance=bound,
                          max_abs_diff=diffs, ok=all(d <= bound for d in diffs.values()), torch=torch.__version__,
                          notes=tuple(notes))
    record.save(folder / "parity.json")
    if not record.ok:
        bad = ", ".join(f"{k} {v:.3g}" for k, v in diffs.items() if v > bound)
        raise ExportError(f"export of arch {arch.id} does not reproduce the model: max abs difference {bad} "
                          f"exceeds the tolerance {bound:.3g} (see {folder / 'parity.json'})")
    return record


def export_run(run: str | Path, *, top: int | None = None, arch_id: str | None = None,
               formats: Sequence[str] | None = None, explicit: bool = False, out: str | Path | None = None,
               into: str | Path | None = None, tolerance: float = 1e-4,
               force: bool = False) -> list[tuple[Path, ParityRecord]]:
    """Export architectures of a search run folder (``result.json``) or of one architecture
    folder (``arch.json`` + ``weights.pt``, as ``nasengine train`` writes).

    Everything is checked before anything is written, and each architecture's files are
    written to a temporary folder first and moved into place once they reproduce the
    model: a failed export leaves its folder as it was (``parity.json`` aside, which says
    why it failed).

    Args:
        run: The folder.
        top: Export the best ``top`` trials (default 3; ``--top-k``); or ``arch_id`` (a unique prefix).
        formats: Names in ``EXPORT_FORMATS`` (default all); one that cannot be written here
            (ONNX without its extra) is skipped, unless ``explicit`` (then it is an error).
        out: Parent folder of the ``<arch-id>/`` folders (default ``RUN/exports``; an
            architecture folder is exported in place).
        into: The export folder itself, for exactly one architecture (``top=1``, ``arch_id``
            or an architecture folder): a path known before the arch id is.
        tolerance: Relative parity tolerance.
        force: Replace the files of an existing, non-empty ``out`` / ``into`` folder of an
            architecture (refused otherwise; the default folders are the run's own).

    Returns:
        ``(folder, parity record)`` per architecture.
    """
    from nasengine.registry import get_space  # the orchestration floor may reach the plug-ins

    run = Path(run)
    formats = format_names() if formats is None else tuple(formats)
    missing = unavailable_formats(formats)
    if missing and explicit:
        name, need = next(iter(missing.items()))
        raise ExportError(f"--format {name} needs {need}")
    formats = tuple(f for f in formats if f not in missing)
    if out is not None and into is not None:
        raise ExportError("give --out or --into, not both")
    for option, path in (("--out", out), ("--into", into)):
        if path is not None:
            output_path(option, path, folder=True)
    jobs: list[tuple[SearchSpace, Arch, ExportRecord, Path | None, Path]] = []
    if (run / "result.json").is_file():
        result = SearchResult.load(run / "result.json")
        space = get_space(result.space, **result.space_config)
        parent = Path(out) if out is not None else run / "exports"
        rows = _select(result, top, arch_id)
        if into is not None and len(rows) != 1:
            raise ExportError(f"--into holds one architecture; select one with --top-k 1 or --arch (got {len(rows)})")
        for row in rows:
            arch = space.arch(row.choices)
            existing = run / "exports" / arch.id
            doc = (ExportRecord.load(existing / "arch.json") if (existing / "arch.json").is_file() else
                   ExportRecord.of(arch, space.cost(arch).to_dict(), {"val_acc": row.acc}, row.number,
                                   hparams=row.hparams))
            stores = (run / "weights", *_shared_weights(run))
            weights = next((p for p in (*(d / f"{arch.id}.pt" for d in stores), existing / "weights.pt")
                            if p.is_file()), None)
            jobs.append((space, arch, doc, weights, Path(into) if into is not None else parent / arch.id))
    elif (run / "arch.json").is_file():
        if top is not None or arch_id is not None:
            raise ExportError(f"{run} holds one architecture; --top-k and --arch apply to search runs")
        arch = read_arch(run)
        space = get_space(arch.space, **dict(arch.config))
        weights = run / "weights.pt"
        jobs.append((space, arch, _folder_record(run, arch, space), weights if weights.is_file() else None,
                     Path(into) if into is not None else (Path(out) / arch.id if out is not None else run)))
    else:
        raise ExportError(f"{str(run)!r} is neither a search run (result.json) nor an architecture folder (arch.json)")
    for space, arch, doc, weights, folder in jobs:
        if weights is None:
            raise ExportError(f"no trained weights for arch {arch.id} in {run} (the search's evaluator kept none); "
                              f"train it with `nasengine train --arch {folder} --out {folder}` and export again")
        # The run's own export folders are refreshed in place, and so is a folder that holds
        # this very export (a rerun after an interruption); anything else needs --force.
        if (out is not None or into is not None) and not _holds_export(folder, replace(doc, formats=formats)):
            refuse_existing(folder, "--into" if into is not None else "--out", force=force)
    done = []
    for space, arch, doc, weights, folder in jobs:
        model = space.build(arch)
        model.load_state_dict(load_checkpoint(weights, what="weights"))
        done.append((folder, _export_into(folder, space, arch, model, replace(doc, formats=formats), formats,
                                          tolerance)))
    return done


def _holds_export(folder: Path, doc: ExportRecord) -> bool:
    """Whether ``folder/arch.json`` records exactly ``doc``: the same architecture, metrics
    and formats, exported before (and perhaps interrupted before its other folders)."""
    try:
        return jsonable(ExportRecord.load(folder / ExportRecord.FILE).to_dict()) == jsonable(doc.to_dict())
    except ValueError:  # none there, or not one of ours
        return False


def _export_into(folder: Path, space: SearchSpace, arch: Arch, model: nn.Module, doc: ExportRecord,
                 formats: Sequence[str], tolerance: float) -> ParityRecord:
    """``export_model`` into a temporary sibling of ``folder``, then its files and ``doc``
    (``arch.json``) moved into ``folder``; on a failure only ``parity.json`` is kept."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{glob.escape(folder.name)}.*"):  # staged by an export that was killed
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as tmp:
        staged = Path(tmp)
        try:
            record = export_model(space, arch, model, staged, formats, tolerance=tolerance)
        except ExportError as exc:
            if (staged / "parity.json").is_file():
                folder.mkdir(parents=True, exist_ok=True)
                (staged / "parity.json").replace(folder / "parity.json")
            raise ExportError(str(exc).replace(str(staged), str(folder))) from None
        doc.save(staged / "arch.json")
        folder.mkdir(parents=True, exist_ok=True)
        # arch.json last: a folder that has it holds the whole export.
        for entry in sorted(staged.iterdir(), key=lambda e: e.name == ExportRecord.FILE):
            target = folder / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            entry.replace(target)
    return record


def _shared_weights(run: Path) -> tuple[Path, ...]:
    """The weights folder a search run's study shares with its other workers (``weights_dir``
    in its ``config.yaml``), where trials that other workers evaluated left theirs."""
    import yaml

    try:
        folder = yaml.safe_load((run / "config.yaml").read_text()).get("weights_dir")
    except (OSError, yaml.YAMLError, AttributeError):
        return ()
    return (Path(folder),) if isinstance(folder, str) else ()


def _folder_record(folder: Path, arch: Arch, space: SearchSpace) -> ExportRecord:
    """The record of an architecture folder: an earlier export's, or a new one for the arch
    file of ``nasengine train`` (the architecture and its preprocessing)."""
    source = str(folder / "arch.json")
    data = read_json(folder / "arch.json")
    if isinstance(data, dict) and "id" in data:
        return ExportRecord.from_dict(data, source)
    return ExportRecord.of(arch, space.cost(arch).to_dict(), preprocessing=preprocessing_in(data, source))


def _select(result: SearchResult, top: int | None, arch_id: str | None) -> list[TrialRecord]:
    if top is not None and arch_id is not None:
        raise ExportError("give --top-k or --arch, not both")
    if arch_id is None:
        if top is not None and top < 1:
            raise ExportError(f"--top-k must be >= 1, got {top}")
        rows = top_rows(result, 3 if top is None else top)
        if not rows:
            raise ExportError("the run has no completed trial to export")
        return rows
    done = [r for r in result.trials if r.state == "COMPLETE"]
    ids = sorted({r.arch_id for r in done if r.arch_id.startswith(arch_id)})
    if len(ids) != 1:
        found = "no completed trial has" if not ids else f"{len(ids)} architectures match"
        raise ExportError(f"--arch {arch_id}: {found} that id in this run")
    return [next(r for r in done if r.arch_id == ids[0])]
