from __future__ import annotations

import json

from nasengine.arch import Arch
from nasengine.registry import get_space
from nasengine.testing.controllers import SMALL
from tests import toy_space  # noqa: F401  registers the "toy" space
from tests.cli_helpers import run_cli
from tests.search_helpers import SPACE_ARGS


def test_sample_writes_an_arch_file_that_cost_and_train_read(tmp_path, capsys):
    out = tmp_path / "arch.json"
    code, text, _ = run_cli(capsys, "space", "sample", "shufflenet", *SPACE_ARGS, "--max-macs", "35K", "--out", str(out))
    arch = Arch.from_json(out.read_text())
    cost = get_space("shufflenet", **SMALL).cost(arch)
    assert code == 0 and arch.id in text and f"{cost.macs:,}" in text and f"{cost.params:,}" in text
    assert cost.macs <= 35_000 and arch.config == get_space("shufflenet", **SMALL).config.to_dict()
    code, text, _ = run_cli(capsys, "cost", "--arch", str(out), "--json")
    assert code == 0 and json.loads(text)["arch_id"] == arch.id


def test_the_same_seed_gives_the_same_architecture(tmp_path, capsys):
    for name in ("a.json", "b.json"):
        assert run_cli(capsys, "space", "sample", "shufflenet", *SPACE_ARGS, "--seed", "3", "--out", str(tmp_path / name))[0] == 0
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()


def test_an_existing_file_is_kept_unless_forced(tmp_path, capsys):
    out = tmp_path / "arch.json"
    out.write_text("mine")
    code, _, err = run_cli(capsys, "space", "sample", "toy", "--out", str(out))
    assert code == 2 and "--force" in err and err.count("\n") == 1 and out.read_text() == "mine"
    assert run_cli(capsys, "space", "sample", "toy", "--out", str(out), "--force")[0] == 0
    assert Arch.from_json(out.read_text()).space == "toy"


def test_an_impossible_limit_names_the_minimum(tmp_path, capsys):
    code, _, err = run_cli(capsys, "space", "sample", "toy", "--max-macs", "1", "--out", str(tmp_path / "a.json"))
    assert code == 2 and "below the minimum" in err and err.count("\n") == 1
    assert not (tmp_path / "a.json").exists()
