"""``nasengine search`` options a user discovers: YAML in the CLI's syntax, --print-config,
--device, and the option keys listed in --help."""

from __future__ import annotations

import pytest
import yaml

from nasengine.cli.main import main
from nasengine.search.config import SearchConfig


def test_yaml_limits_take_the_command_line_amounts(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text("max_macs: 100K\nmax_params: 3.5M\ntrials: 5\n")
    cfg = SearchConfig.resolve(path)
    assert (cfg.max_macs, cfg.max_params, cfg.trials) == (100_000.0, 3_500_000.0, 5)


def test_a_bad_yaml_value_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "search.yaml"
    for text, needle in (("trials: many\n", "search option trials must be int, got 'many'"),
                         ("max_macs: lots\n", "'lots' is not an amount"),
                         ("space_config: [1, 2]\n", "search option space_config must be dict"),
                         ("epochs: true\n", "search option epochs must be int, got True")):
        path.write_text(text)
        assert main(["search", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nasengine: error: ") and needle in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # nothing written for a refused configuration


def test_print_config_is_every_option_and_reads_back_as_the_same_config(tmp_path, capsys):
    assert main(["search", "--strategy", "spos", "--max-macs", "40K", "--set", "input_size=8", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert set(printed) == {f.name for f in SearchConfig.__dataclass_fields__.values()}
    assert printed["max_macs"] == 40_000 and printed["evaluator"] == "supernet" and printed["space_config"] == {
        "input_size": 8}
    path = tmp_path / "printed.yaml"
    path.write_text(yaml.safe_dump(printed))
    assert SearchConfig.resolve(path) == SearchConfig.resolve(None, strategy="spos", max_macs=40_000,
                                                              space_config={"input_size": 8})


def test_device_reaches_the_evaluator_and_is_checked(capsys):
    assert main(["search", "--device", "cpu", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["device"] == "cpu"
    assert main(["search", "--device", "tpu", "--print-config"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


def test_help_lists_the_option_keys_of_every_controller_and_evaluator(capsys):
    try:
        main(["search", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "population_size=20" in text and "cost_weight=-0.07" in text  # evolution, rl
    assert "bn_batches=20" in text and "optimizer='sgd'" in text  # supernet, train
    assert "train: max_steps=None" in text  # options the search sets itself are not listed


@pytest.mark.parametrize("argv, expected", [
    (["--strategy", "nsga2"], ("nsga2", "nsga2", "train")),
    (["--strategy", "spos"], ("spos", "evolution", "supernet")),
    (["--controller", "rl"], (None, "rl", "train")),
])
def test_a_printed_config_takes_a_new_strategy_from_the_command_line(tmp_path, capsys, argv, expected):
    assert main(["search", "--max-macs", "40K", "--print-config"]) == 0
    path = tmp_path / "search.yaml"
    path.write_text(capsys.readouterr().out)
    assert main(["search", "--config", str(path), *argv, "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert (printed["strategy"], printed["controller"], printed["evaluator"]) == expected
    assert printed["max_macs"] == 40_000


def test_a_new_controller_keeps_the_files_table_evaluator(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text("strategy: random\nevaluator: table\nevaluator_options: {path: t.json}\n")
    cfg = SearchConfig.resolve(path, strategy="rl")
    assert (cfg.controller, cfg.evaluator, cfg.evaluator_options) == ("rl", "table", {"path": "t.json"})
