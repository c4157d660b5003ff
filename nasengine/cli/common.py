"""Helpers shared by CLI commands: ``--set key=value`` parsing, arch resolution, the help
formatter every subcommand uses and hidden aliases of renamed options."""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

import yaml

from nasengine.arch import Arch, ArchError
from nasengine.registry import SPACES, get_space
from nasengine.utils import yaml_values


class UsageError(ValueError):
    """Bad command-line input; printed as one line, exit code 2."""


def invoked_command(args: argparse.Namespace) -> str | None:
    """The ``nasengine ...`` command line ``args`` were parsed from, as ``main`` keeps it in
    ``args.argv`` (``None`` when they were built another way); files record it so that
    they say how to make them again."""
    argv = getattr(args, "argv", None)
    return None if argv is None else shlex.join(["nasengine", *argv])


def add_threads_option(parser: Any, default_help: str = "OMP_NUM_THREADS if set, else all cores of this host") -> None:
    """``--threads N``: torch threads the command computes with (``apply_threads``)."""
    parser.add_argument("--threads", type=int, metavar="N",
                        help=f"torch threads to compute with, >= 1 (default: {default_help}); recorded with the run")


def add_force_option(parser: Any, replaces: str) -> None:
    """``--force``: replace what the command would otherwise refuse to overwrite."""
    parser.add_argument("--force", action="store_true", help=f"replace {replaces} instead of refusing")


def apply_threads(threads: int | None, *, workers: int = 1) -> int:
    """Set torch's threads to ``--threads`` (default: this host's cores / ``workers``)."""
    from nasengine.utils.threads import use_threads

    try:
        return use_threads(threads, workers=workers)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["filters=44", "ops=[identity,sep_conv_3x3]"]`` -> typed dict (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml_values.load(value) if value.strip() else ""
        except yaml.YAMLError:
            raise UsageError(f"--set {key}: cannot parse value {value!r}") from None
    return out


def make_space(name: str, sets: dict[str, Any]) -> Any:
    if name not in SPACES:
        raise UsageError(f"unknown space {name!r}; available: {', '.join(SPACES.names())}")
    return get_space(name, **sets)


def preset_networks(name: str) -> dict[str, Any]:
    """The preset networks of space ``name`` (``SearchSpace.preset_networks``)."""
    if name not in SPACES:
        raise UsageError(f"unknown space {name!r}; available: {', '.join(SPACES.names())}")
    return SPACES.get(name).preset_networks()


def space_config(name: str, preset: str | None, sets: dict[str, Any]) -> dict[str, Any]:
    """Config values of ``--preset`` (a preset network of space ``name``), then ``--set``."""
    if preset is None:
        return sets
    networks = preset_networks(name)
    if preset not in networks:
        raise UsageError(f"--preset {preset!r}: space {name!r} has no such preset network; "
                         f"preset networks: {', '.join(networks) or 'none'}")
    return {**networks[preset].config, **sets}


def resolve_arch(arch_arg: str, space_name: str | None, sets: dict[str, Any]) -> tuple[Any, Arch]:
    """Turn ``--arch FILE|JSON|PRESET`` (+ ``--space`` / ``--set``) into ``(space, arch)``.

    A preset network (``SearchSpace.preset_networks``) brings its whole config, which ``--set``
    values override; any other preset name is looked up in ``presets()`` of the ``--set`` config.

    A JSON document may be a full arch (``space``, ``config``, ``choices``; extra keys such
    as ``cost`` are ignored) or a bare choices mapping, which then needs ``--space``.
    ``--set`` values override the config stored in the file.
    """
    text = read_arch_text(arch_arg)
    if text is None:  # a preset name
        if not space_name:
            raise UsageError(f"--arch {arch_arg!r} is neither a file nor JSON; to use a preset, also give --space")
        if arch_arg in preset_networks(space_name):  # a published network: its own config, then --set
            return SPACES.get(space_name).from_preset(arch_arg, **sets)
        space = make_space(space_name, sets)
        presets = space.presets()
        if arch_arg not in presets:
            raise UsageError(f"space {space_name!r} has no preset {arch_arg!r} for this config; "
                             f"presets: {', '.join(presets) or 'none'}")
        return space, presets[arch_arg]
    source = "--arch" if arch_arg.strip().startswith("{") else f"--arch {arch_arg!r}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: the JSON must be an object (space, config, choices), got {type(data).__name__}")
    if "choices" in data:
        name = data.get("space") or space_name
        if space_name and data.get("space") and space_name != data["space"]:
            raise UsageError(f"--space {space_name!r} disagrees with the arch's space {data['space']!r}")
        if not isinstance(data.get("config", {}), dict):
            raise UsageError(f"{source}: 'config' must be an object of space settings, got {data['config']!r}")
        config = {**data.get("config", {}), **sets}
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
        try:
            return path.read_text()
        except UnicodeDecodeError:
            raise UsageError(f"--arch file {arg!r} is not text (JSON)") from None
    if path.suffix == ".json" or "/" in arg:
        raise UsageError(f"--arch file {arg!r} does not exist")
    return None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default in ``--help`` unless it is unset or its help already says it."""

    def add_argument(self, action: argparse.Action) -> None:
        if action.help is None and _shows_default(action):  # argparse prints no line for an option without help
            action = copy.copy(action)
            action.help = "default: %(default)s"
        super().add_argument(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        return f"{text} (default: %(default)s)" if _shows_default(action) and "default" not in text else text


def _shows_default(action: argparse.Action) -> bool:
    return bool(action.option_strings) and action.default not in (None, False, argparse.SUPPRESS)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help shows defaults; subcommand parsers inherit the class,
    so every ``nasengine`` subcommand gets it without passing ``formatter_class`` each time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """One line, like every other bad input, pointing at ``--help`` instead of printing the usage block."""
        print(f"nasengine: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


class _DeprecatedAlias(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"nasengine: note: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(parser: Any, old: str, new: str, **kwargs: Any) -> None:
    """Accept the old spelling ``old`` of option ``new`` (hidden from ``--help``), with a one-line
    note on stderr. ``parser`` may be a parser or an argument group; ``kwargs`` (``type``...)
    must match the new option's."""
    dest = new.lstrip("-").replace("-", "_")
    parser.add_argument(old, dest=dest, action=_DeprecatedAlias, new=new, help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, **kwargs)
