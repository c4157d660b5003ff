"""``search --resume`` under options that change results is refused, naming them; workers
sharing a study must agree on everything but the seed; ``--force`` starts over."""

from __future__ import annotations

import pytest
import yaml

from nasengine.search.config import SearchConfig
from tests.cli_helpers import run_cli
from tests.search_helpers import SPACE_ARGS, synthetic_table


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return synthetic_table(tmp_path_factory.mktemp("table") / "table.json")


def _search(capsys, table, out, *extra):
    return run_cli(capsys, "search", "--space", "shufflenet", *SPACE_ARGS, "--evaluator", f"table:{table}",
                   "--strategy", "evolution", "--epochs", "3", "--out", str(out), "--quiet", *extra)


@pytest.mark.parametrize(("change", "named"), [
    (("--epochs", "4"), "epochs 3 -> 4"),
    (("--seed", "1"), "seed 0 -> 1"),
    (("--strategy", "random"), "strategy evolution -> random, controller evolution -> random"),
    (("--evaluator-set", "path={other}"), "path {table} -> {other}"),
])
def test_resume_under_other_settings_is_refused(table, tmp_path, capsys, change, named):
    other = synthetic_table(tmp_path / "other.json")
    change = tuple(c.format(other=other) for c in change)
    named = named.format(table=table, other=other)
    out = tmp_path / "run"
    assert _search(capsys, table, out, "--trials", "3")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, _, err = _search(capsys, table, out, "--trials", "6", "--resume", *change)
    assert code == 2 and err.count("\n") == 1 and named in err and "--force" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # config.yaml and study.db kept
    # what may change: the trial count, threads, device, top-k
    code, _, err = _search(capsys, table, out, "--trials", "5", "--resume", "--threads", "1", "--top-k", "1")
    assert code == 0 and "resuming study 'search'" in err and "3 of 5 trials finished" in err


def test_force_starts_over_and_config_records_kind_and_threads(table, tmp_path, capsys):
    out = tmp_path / "run"
    assert _search(capsys, table, out, "--trials", "4")[0] == 0
    (out / "notes.txt").write_text("old")
    code, _, err = _search(capsys, table, out, "--trials", "2")
    assert code == 2 and "--resume" in err and "--force" in err
    assert _search(capsys, table, out, "--trials", "2", "--seed", "3", "--force", "--threads", "1")[0] == 0
    assert not (out / "notes.txt").exists()
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["kind"] == "search" and config["threads"] == 1 and config["seed"] == 3 and config["trials"] == 2
    assert SearchConfig.resolve(out / "config.yaml").threads == 1  # the file is a --config still
    code, _, err = _search(capsys, table, out, "--trials", "2", "--force", "--resume")
    assert code == 2 and "give one" in err


def test_a_train_config_is_not_a_search_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("kind: train\nspace: toy\n")
    with pytest.raises(ValueError, match="holds the settings of `nasengine train`, not of a search"):
        SearchConfig.resolve(path)


def test_workers_of_a_shared_study_must_agree_but_the_seed(table, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _search(capsys, table, tmp_path / "w0", "--trials", "3", "--storage", storage)[0] == 0
    # another worker with its own seed joins
    assert _search(capsys, table, tmp_path / "w1", "--trials", "5", "--storage", storage, "--seed", "1")[0] == 0
    code, _, err = _search(capsys, table, tmp_path / "w2", "--trials", "6", "--storage", storage, "--epochs", "5")
    assert code == 2 and "epochs 3 -> 5" in err and "another --study" in err
    code, _, err = _search(capsys, table, tmp_path / "w3", "--storage", storage, "--force")
    assert code == 2 and "cannot delete a study in a shared --storage" in err


def test_studies_started_before_the_later_keys_were_recorded_still_resume(table, tmp_path, capsys):
    import optuna

    out = tmp_path / "run"
    assert _search(capsys, table, out, "--trials", "2")[0] == 0
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{out / 'study.db'}")
    from nasengine.search.study import LATER_KEYS as _LATER_KEYS

    old = {k: v for k, v in study.user_attrs["identity"].items() if k not in _LATER_KEYS}
    study.set_user_attr("identity", old)
    assert _search(capsys, table, out, "--trials", "3", "--resume")[0] == 0
