"""Run folders: which command made one, and whether a new run may resume or rerun in it.

Every command that trains into a folder (``train``, ``search``, ``dynamic train``) records
its ``kind`` and resolved settings in ``config.yaml``. Before it writes anything, a command
``claim``s its folder: a folder made by another command, or a run under settings that
change results (``setting_changes``), is refused with one line naming the differences,
unless ``force`` starts over (the folder's contents are removed first).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Collection, Mapping

import yaml

CONFIG = "config.yaml"
KINDS = ("train", "search", "dynamic")
_MISSING = object()


class RunFolderError(ValueError):
    """A command would resume, rerun or overwrite a run made by another command or under
    other settings."""


def setting_changes(before: Mapping[str, Any], now: Mapping[str, Any], *,
                    ignore: Collection[str] = ()) -> list[str]:
    """``["epochs 20 -> 4", "lr 0.1 -> 0.5"]``: the values of ``now`` that differ from
    ``before``, nested mappings compared key by key.

    A key is named by its last part (``lr``) when that is unambiguous, else by its dotted
    path (``train.seed``). ``ignore`` lists dotted paths (or top-level keys) not compared.
    """
    old, new = _flatten(before), _flatten(now)
    paths = [p for p in dict.fromkeys([*old, *new]) if p not in ignore and p.split(".")[0] not in ignore]
    changed = [p for p in paths if old.get(p, _MISSING) != new.get(p, _MISSING)]
    leaves = [p.rsplit(".", 1)[-1] for p in dict.fromkeys([*old, *new])]
    return [f"{p.rsplit('.', 1)[-1] if leaves.count(p.rsplit('.', 1)[-1]) == 1 else p} "
            f"{_show(old.get(p, _MISSING))} -> {_show(new.get(p, _MISSING))}" for p in changed]


def require_same(what: str, before: Mapping[str, Any], now: Mapping[str, Any], *, ignore: Collection[str] = (),
                 hint: str = "pass the same options, another --out, or --force to start over") -> None:
    """Raise ``RunFolderError`` when ``now`` changes a setting of ``before``, e.g.
    ``runs/x holds a run with other settings (epochs 20 -> 4, lr 0.1 -> 0.5); pass ...``."""
    changes = setting_changes(before, now, ignore=ignore)
    if changes:
        raise RunFolderError(f"{what} holds a run with other settings ({', '.join(changes)}); {hint}")


def read_config(folder: str | Path) -> dict[str, Any] | None:
    """The ``config.yaml`` of ``folder`` as a mapping; ``None`` when there is none."""
    path = Path(folder) / CONFIG
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RunFolderError(f"{path} is not valid YAML ({str(exc).splitlines()[0]}); "
                             "remove the folder or pass --force to start over") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path} does not hold a run's settings; remove the folder or pass --force to start over")
    return data


def folder_kind(config: Mapping[str, Any]) -> str | None:
    """The command that wrote ``config`` (``config.yaml`` of a run folder). Folders written
    before the kind was recorded are recognised by their keys."""
    kind = config.get("kind")
    if isinstance(kind, str):
        return kind
    if "method" in config and "model" in config:
        return "dynamic"
    if "train" in config and "dataset" in config:
        return "train"
    if "study" in config or "controller" in config or "evaluator" in config:
        return "search"
    return None


def claim(folder: str | Path, kind: str, *, force: bool = False) -> dict[str, Any] | None:
    """Check that ``folder`` may hold a run of command ``kind``; returns the settings of the
    run of that kind already there (``None``: no run, or ``force`` removed it).

    Raises:
        RunFolderError: ``folder`` holds a run of another command (without ``force``).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {str(folder)!r} is a file, not a folder")
    config = read_config(folder) if not force else _config_or_none(folder)
    found = None if config is None else folder_kind(config)
    if force:
        if config is not None:
            start_over(folder)
        return None
    if config is not None and found != kind:
        made_by = f"`nasengine {found}`" if found in KINDS else "another command"
        raise RunFolderError(f"{folder} holds a run of {made_by}, not of `nasengine {kind}`; "
                             "use another --out, or --force to replace it")
    return config


def start_over(folder: str | Path) -> None:
    """Remove everything in the run folder ``folder`` (the folder itself stays, so a
    folder that is the current directory keeps working)."""
    for entry in Path(folder).iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def refuse_existing(path: str | Path, option: str = "--out", *, force: bool = False) -> None:
    """Refuse to write output ``path`` over an existing file or non-empty folder unless
    ``force`` (for commands whose output is a file or a folder of their own)."""
    path = Path(path)
    taken = path.is_file() or (path.is_dir() and any(path.iterdir()))
    if taken and not force:
        raise RunFolderError(f"{option} {str(path)!r} already exists; choose another path or pass --force to replace it")


def _config_or_none(folder: Path) -> dict[str, Any] | None:
    try:
        return read_config(folder)
    except RunFolderError:  # a damaged config is still a run folder to start over
        return {}


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):  # an empty mapping is the same as no options
            out.update(_flatten(value, path + "."))
        else:
            out[path] = list(value) if isinstance(value, tuple) else value
    return out


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(unset)"
    if value is None:
        return "none"
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return str(value)
