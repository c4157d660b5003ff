"""The shared run-folder checks: differences named in one line, folders of other commands
refused, ``force`` starting over."""

from __future__ import annotations

import pytest
import yaml

from nasengine.utils.run_folder import RunFolderError, claim, refuse_existing, require_same, setting_changes


def test_changes_are_named_by_their_key_with_old_and_new_values():
    before = {"kind": "train", "train": {"epochs": 20, "lr": 0.1, "seed": 0}, "dataset": {"name": "digits"}}
    now = {"kind": "train", "train": {"epochs": 4, "lr": 0.5, "seed": 0}, "dataset": {"name": "cluttered"}}
    assert setting_changes(before, now) == ["epochs 20 -> 4", "lr 0.1 -> 0.5", "name digits -> cluttered"]
    assert setting_changes(before, now, ignore=("train.lr", "dataset")) == ["epochs 20 -> 4"]


def test_an_ambiguous_key_is_named_by_its_path_and_missing_values_say_so():
    before = {"train": {"seed": 0}, "pretrain": {"seed": 0}}
    now = {"train": {"seed": 1}, "pretrain": {"seed": 0}, "strategy": "spos"}
    assert setting_changes(before, now) == ["train.seed 0 -> 1", "strategy (unset) -> spos"]
    # an empty mapping is no options, the same as none given
    assert setting_changes({"fix": {}}, {}) == []
    assert setting_changes({"ops": ["a", "b"]}, {"ops": ("a", "b")}) == []


def test_require_same_is_one_line_naming_every_difference():
    with pytest.raises(RunFolderError) as info:
        require_same("runs/x", {"epochs": 20, "lr": 0.1}, {"epochs": 4, "lr": 0.5})
    message = str(info.value)
    assert "\n" not in message and "runs/x" in message and "(epochs 20 -> 4, lr 0.1 -> 0.5)" in message
    assert "--force" in message
    require_same("runs/x", {"epochs": 20}, {"epochs": 20})


def _run_folder(path, **config):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / "weights.pt").write_text("w")
    (path / "sub").mkdir()
    (path / "sub" / "file").write_text("x")
    return path


def test_claim_refuses_another_commands_folder_and_force_empties_it(tmp_path):
    folder = _run_folder(tmp_path / "run", kind="search", space="toy")
    with pytest.raises(RunFolderError, match="holds a run of `nasengine search`, not of `nasengine train`"):
        claim(folder, "train")
    assert claim(folder, "search") == {"kind": "search", "space": "toy"}
    assert claim(folder, "train", force=True) is None
    assert folder.is_dir() and not any(folder.iterdir())  # the folder stays, its contents go
    assert claim(tmp_path / "new", "train") is None and not (tmp_path / "new").exists()


def test_claim_recognises_folders_written_before_kinds_were_recorded(tmp_path):
    train = _run_folder(tmp_path / "train", space="toy", train={"epochs": 1}, dataset={"name": "digits"})
    dynamic = _run_folder(tmp_path / "dynamic", method="rnp", model={}, train={}, dataset={})
    search = _run_folder(tmp_path / "search", space="toy", controller="evolution", study="search")
    for folder, kind in ((train, "train"), (dynamic, "dynamic"), (search, "search")):
        assert claim(folder, kind) is not None
        other = "search" if kind != "search" else "train"
        with pytest.raises(RunFolderError, match=f"`nasengine {kind}`"):
            claim(folder, other)


def test_claim_refuses_a_file_and_a_damaged_config(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        claim(tmp_path / "file", "train")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_text("a: [1,\n")
    with pytest.raises(RunFolderError, match="not valid YAML"):
        claim(broken, "train")
    assert claim(broken, "train", force=True) is None and not any(broken.iterdir())


def test_refuse_existing_outputs(tmp_path):
    refuse_existing(tmp_path / "none.json")
    (tmp_path / "empty").mkdir()
    refuse_existing(tmp_path / "empty")  # an empty folder holds nothing to lose
    (tmp_path / "table.json").write_text("{}")
    with pytest.raises(RunFolderError, match="--out .*table.json' already exists; .* --force"):
        refuse_existing(tmp_path / "table.json")
    refuse_existing(tmp_path / "table.json", force=True)
