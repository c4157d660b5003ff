"""The README's command-line tour ("A five-minute tour", the bash block under "### Command
line") runs as written: every command exits 0, in order, from a fresh folder.

The slow test runs the commands with tiny budgets (``TINY_COUNTS`` rewrites the counts the
tour writes out, ``TINY_OPTIONS`` sets those a command leaves at a long default), moves a
latency limit to bind on the machine at hand (``bind_latency``) and skips only the
benchmarks in ``SKIPPED``. The cheap tests check what a reader copies: no
placeholders, only ``nasengine`` commands, limits that bind, one meaning per output path.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nasengine.cli.common import parse_sets
from nasengine.cost import parse_amount
from nasengine.registry import get_space

ROOT = Path(__file__).resolve().parents[1]

#: Counts the tour writes out, shrunk wherever they appear (``--print-config`` carries the
#: shrunk ones into the YAML file the later searches read).
TINY_COUNTS = {"--epochs": "1", "--trials": "2", "--pretrain-epochs": "1", "--samples": "3", "--seeds": "1"}

#: Budgets a command leaves at its default, set (replaced or added) for that command.
TINY_OPTIONS: dict[tuple[str, ...], dict[str, str]] = {
    ("latency", "build"): {"--warmup": "1", "--repeats": "2", "--calibrate": "2"},
    ("report",): {"--epochs": "1", "--seeds": "1", "--latency-runs": "1", "--baseline-size": "16"},
    ("dynamic", "train"): {"--epochs": "1", "--nested-epochs": "1", "--policy-epochs": "1",
                           "--finetune-epochs": "1", "--rounds": "1"},
    ("dynamic", "eval"): {"--repeats": "1", "--batches": "1,16", "--images": "16"},
    ("bench", "cost"): {"--samples": "100"},
    ("bench", "kernels"): {"--repeats": "1"},
    ("bench", "pruner"): {"--seeds": "1", "--trials": "2", "--epochs": "1"},
}

#: Benchmarks that take minutes even at their smallest budgets; they are run by their own
#: tests under tests/bench/ and skipped here.
SKIPPED = {("bench", "supernet"), ("bench", "metapruning"), ("bench", "dynamic")}


@dataclass(frozen=True)
class Command:
    """One tour line: the ``nasengine`` arguments and the file its stdout is redirected to."""

    args: tuple[str, ...]
    stdout: str | None = None

    def option(self, name: str) -> str | None:
        """The value of ``--name`` (the last one when repeated), or ``None``."""
        values = self.options(name)
        return values[-1] if values else None

    def options(self, name: str) -> list[str]:
        return [self.args[i + 1] for i, word in enumerate(self.args[:-1]) if word == name]

    def starts_with(self, words: tuple[str, ...]) -> bool:
        return self.args[: len(words)] == words


def tour_block() -> str:
    """The bash block of the README's "### Command line" section."""
    section = (ROOT / "README.md").read_text().split("### Command line", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def tour_commands() -> list[Command]:
    """Every command of the block: continuations joined, comments and ``source`` dropped."""
    commands = []
    for line in tour_block().replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] == "source":
            continue
        assert words[0] == "nasengine", f"not a nasengine command: {line}"
        stdout = None
        if ">" in words:
            at = words.index(">")
            assert at == len(words) - 2, f"only `> FILE` at the end is supported: {line}"
            words, stdout = words[:at], words[at + 1]
        commands.append(Command(tuple(words[1:]), stdout))
    return commands


def shrink(command: Command) -> Command:
    """The command with tiny budgets (``TINY_COUNTS``, ``TINY_OPTIONS``)."""
    args = list(command.args)
    for i in range(1, len(args)):
        if args[i - 1] in TINY_COUNTS:
            args[i] = TINY_COUNTS[args[i - 1]]
    for prefix, options in TINY_OPTIONS.items():
        if command.starts_with(prefix):
            for name, value in options.items():
                args = _set_option(args, name, value)
    return Command(tuple(args), command.stdout)


def _set_option(args: list[str], name: str, value: str) -> list[str]:
    if name in args:
        at = args.index(name)
        return [*args[: at + 1], value, *args[at + 2:]]
    return [*args, name, value]


def _space_of(command: Command, configs: dict[str, Command]) -> tuple[str, dict[str, object]]:
    """The space name and config of a command, through the YAML file it reads (``--config``)."""
    source = configs.get(command.option("--config") or "", command)
    sets = {**parse_sets(source.options("--set")), **parse_sets(command.options("--set"))}
    name = command.option("--space") or source.option("--space")
    if name is None and command.starts_with(("space", "sample")):
        name = command.args[2]
    assert name is not None, f"no space in {command.args}"
    return name, sets


def test_the_tour_has_no_placeholders():
    block = tour_block()
    assert "..." not in block and not re.search(r"<[\w-]+>", block), "the tour must run as written"
    assert len(tour_commands()) > 20


def test_every_macs_limit_binds_in_its_space():
    configs = {c.stdout: c for c in tour_commands() if c.stdout and "--print-config" in c.args}
    checked = 0
    for command in tour_commands():
        limit = command.option("--max-macs")
        if limit is None:  # a search reading a --print-config file has its limit checked there
            continue
        name, sets = _space_of(command, configs)
        low, high = get_space(name, **sets).cost_bounds()
        assert low.macs < parse_amount(limit) < high.macs, f"--max-macs {limit} does not bind in {command.args}"
        checked += 1
    assert checked >= 3


def test_no_output_path_means_two_things():
    outputs = [c.stdout or c.option("--out") or c.option("--into") for c in tour_commands() if "--resume" not in c.args]
    written = [path for path in outputs if path is not None]
    assert len(written) == len(set(written)), f"an output path is used twice: {sorted(written)}"


def bind_latency(command: Command, folder: Path) -> Command:
    """The command with its latency limit moved to bind on this machine.

    Latency tables are measured, so the tour's limit binds on machines like the one it was
    written on; here the limit is set halfway between the fastest architecture under the
    command's MACs limit and the slowest one, as the freshly built table predicts them.
    """
    table = command.option("--latency-table")
    if command.option("--max-latency-ms") is None or table is None:
        return command
    from nasengine.latency.table import LatencyPredictor

    name, sets = _space_of(command, {})
    space = get_space(name, **sets)
    predict = LatencyPredictor(space, folder / table)
    limit = parse_amount(command.option("--max-macs") or float("inf"))
    fits = [predict(a) for a in space.all_archs() if space.cost(a).macs <= limit]
    slowest = max(predict(a) for a in space.all_archs())
    return Command(tuple(_set_option(list(command.args), "--max-latency-ms", f"{(min(fits) + slowest) / 2:.4f}")),
                   command.stdout)


@pytest.mark.slow
def test_the_tour_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "reports" / "tables", tmp_path / "reports" / "tables")  # read by bench controllers
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for command in tour_commands():
        if any(command.starts_with(words) for words in SKIPPED):
            continue
        tiny = bind_latency(shrink(command), tmp_path)
        with open(tmp_path / tiny.stdout, "w") if tiny.stdout else open(os.devnull, "w") as out:
            done = subprocess.run([sys.executable, "-m", "nasengine", *tiny.args], cwd=tmp_path, env=env, stdout=out,
                                  stderr=subprocess.PIPE, text=True)
        assert done.returncode == 0, f"`nasengine {shlex.join(tiny.args)}` failed:\n{done.stderr[-3000:]}"
