from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from nasengine.cli.main import build_parser, main
from tests import toy_space  # noqa: F401  registers the "toy" space


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_spaces_lists_builtins(capsys):
    code, out, _ = run(capsys, "spaces")
    assert code == 0
    for name in ("shufflenet", "nas_cell", "channel_width", "layers", "toy"):
        assert name in out


def test_space_show_prints_decisions_and_bounds(capsys):
    code, out, _ = run(capsys, "space", "show", "toy", "--json")
    data = json.loads(out)
    assert code == 0 and data["size"] == 4
    assert [d["name"] for d in data["decisions"]] == ["kernel", "width"]
    assert data["min"]["macs"] < data["max"]["macs"]


def test_cost_with_inline_json_and_verify(capsys):
    code, out, _ = run(capsys, "cost", "--space", "toy", "--arch", '{"kernel": "k5", "width": 8}', "--verify", "--json")
    row = json.loads(out)
    assert code == 0 and row["match"] is True and row["macs"] == row["fvcore"]["macs"] > 0


def test_cost_reads_an_arch_file(capsys, tmp_path):
    arch = toy_space.ToySpace().arch({"kernel": "k3", "width": 4})
    (tmp_path / "arch.json").write_text(arch.to_json())
    code, out, _ = run(capsys, "cost", "--arch", str(tmp_path))
    assert code == 0 and arch.id in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["space", "show", "nope"], "unknown space 'nope'"),
        (["space", "show", "toy", "--set", "depth=3"], "unknown config key"),
        (["space", "show", "toy", "--set", "oops"], "--set expects key=value"),
        (["cost", "--space", "toy", "--arch", '{"kernel": "k9", "width": 4}'], "'kernel'"),
        (["cost", "--space", "toy", "--arch", "nasnet_b"], "no preset 'nasnet_b'"),
        (["cost", "--arch", "missing/arch.json"], "does not exist"),
        (["cost", "--space", "toy", "--arch", "{bad json"], "invalid JSON"),
        (["train", "--space", "toy", "--arch", '{"kernel": "k3", "width": 4}', "--out", "x", "--epochs", "0"], "epochs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_train_on_digits_saves_everything(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "--space", "toy", "--arch", '{"kernel": "k3", "width": 8}', "--dataset", "digits",
                       "--epochs", "3", "--lr", "0.1", "--out", str(out_dir), "--quiet")
    assert code == 0
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["val_acc"] > 0.3  # chance is 0.1
    assert {"arch.json", "config.yaml", "weights.pt", "metrics.json"} <= {p.name for p in out_dir.iterdir()}
    assert not (out_dir / "checkpoint.pt").exists()
    assert "epoch" not in err  # --quiet: no per-epoch lines


def test_train_logs_one_line_per_epoch_without_a_terminal(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--space", "toy", "--arch", '{"kernel": "k3", "width": 4}', "--epochs", "2",
                         "--out", str(tmp_path / "run"))
    lines = [line for line in err.splitlines() if line.startswith("epoch ")]  # pytest's stderr is not a terminal
    assert code == 0 and [line.split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all(f"{field} " in line for line in lines for field in ("train loss", "val acc", "lr"))
    assert lines[-1].endswith("s") and "epoch" not in out


def test_console_script_exit_code():
    proc = subprocess.run([sys.executable, "-m", "nasengine", "space", "show", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("nasengine: error: unknown space")


def _parsers(parser):
    """Every parser of the command tree, with its command path."""
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _parsers(child)


def test_every_help_shows_the_defaults():
    checked = 0
    for prog, parser in _parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if action.default in (None, False, argparse.SUPPRESS):
                continue
            formatter = parser._get_formatter()
            formatter.add_argument(action)
            assert "default" in formatter.format_help(), f"{prog} {action.option_strings[0]}"
            checked += 1
    assert checked > 50


@pytest.mark.parametrize("argv, dest, value, old", [
    (["export", "run", "--top", "2"], "top_k", 2, "--top"),
    (["export", "run", "--top-k", "2"], "top_k", 2, None),
    (["report", "run", "--out", "r", "--top", "4"], "top_k", 4, "--top"),
    (["tabulate", "--space", "toy", "--out", "t.json", "--repeats", "3"], "seeds", 3, "--repeats"),
])
def test_old_option_spellings_still_work_with_a_note(capsys, argv, dest, value, old):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    if old is None:
        assert err == ""
    else:
        new = "--" + dest.replace("_", "-")
        assert err == f"nasengine: note: {old} is deprecated; use {new}\n"


def test_old_spellings_are_hidden_from_help_and_keep_their_exclusions(capsys):
    text = build_parser()._subparsers._group_actions[0].choices["export"].format_help()
    assert "--top-k" in text and "--top " not in text and "--top," not in text
    with pytest.raises(SystemExit):  # --top, like --top-k, excludes --arch
        build_parser().parse_args(["export", "run", "--top", "2", "--arch", "abc"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_report_records_the_new_option_name():
    from nasengine.cli.report import command_line

    args = build_parser().parse_args(["report", "runs/a", "--out", "r"])
    assert "--top-k 1" in command_line(args) and "--top " not in command_line(args)


def test_export_help_lists_the_registered_formats():
    from nasengine.export.formats import EXPORT_FORMATS, format_names

    assert format_names()[:3] == ("state_dict", "pt2", "onnx") and set(format_names()) == set(EXPORT_FORMATS.names())
    text = build_parser()._subparsers._group_actions[0].choices["export"].format_help()
    assert "state_dict,pt2,onnx" in " ".join(text.split())


def test_library_modules_hold_no_command_line():
    import nasengine.search.rankcheck as rankcheck
    import nasengine.search.tabulate as tabulate

    for module in (rankcheck, tabulate):
        assert not hasattr(module, "add_parser") and "argparse" not in vars(module)
