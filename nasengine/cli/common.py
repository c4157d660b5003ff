"""Helpers shared by CLI commands: ``--set key=value`` parsing and arch resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from nasengine.arch import Arch, ArchError
from nasengine.registry import SPACES, get_space


class UsageError(ValueError):
    """Bad command-line input; printed as one line, exit code 2."""


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["filters=44", "ops=[identity,sep_conv_3x3]"]`` -> typed dict (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            raise UsageError(f"--set {key}: cannot parse value {value!r}") from None
    return out


def make_space(name: str, sets: dict[str, Any]) -> Any:
    if name not in SPACES:
        raise UsageError(f"unknown space {name!r}; available: {', '.join(SPACES.names())}")
    return get_space(name, **sets)


def resolve_arch(arch_arg: str, space_name: str | None, sets: dict[str, Any]) -> tuple[Any, Arch]:
    """Turn ``--arch FILE|JSON|PRESET`` (+ ``--space`` / ``--set``) into ``(space, arch)``.

    A JSON document may be a full arch (``space``, ``config``, ``choices``; extra keys such
    as ``cost`` are ignored) or a bare choices mapping, which then needs ``--space``.
    ``--set`` values override the config stored in the file.
    """
    text = read_arch_text(arch_arg)
    if text is None:  # a preset name
        if not space_name:
            raise UsageError(f"--arch {arch_arg!r} is neither a file nor JSON; to use a preset, also give --space")
        space = make_space(space_name, sets)
        presets = space.presets()
        if arch_arg not in presets:
            raise UsageError(f"space {space_name!r} has no preset {arch_arg!r} for this config; presets: {', '.join(presets) or 'none'}")
        return space, presets[arch_arg]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--arch: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError("--arch JSON must be an object")
    if "choices" in data:
        name = data.get("space") or space_name
        if space_name and data.get("space") and space_name != data["space"]:
            raise UsageError(f"--space {space_name!r} disagrees with the arch's space {data['space']!r}")
        config = {**dict(data.get("config", {})), **sets}
        choices = data["choices"]
    else:
        name, config, choices = space_name, sets, data
    if not name:
        raise UsageError("the arch JSON has no 'space'; give --space")
    space = make_space(name, config)
    if not isinstance(choices, dict):
        raise ArchError("'choices' must be an object mapping decision names to options")
    return space, space.arch(choices)


def read_arch_text(arg: str) -> str | None:
    stripped = arg.strip()
    if stripped.startswith("{"):
        return stripped
    path = Path(arg)
    if path.is_dir() and (path / "arch.json").is_file():
        path = path / "arch.json"
    if path.is_file():
        return path.read_text()
    if path.suffix == ".json" or "/" in arg:
        raise UsageError(f"--arch file {arg!r} does not exist")
    return None
