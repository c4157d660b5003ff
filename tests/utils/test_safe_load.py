from __future__ import annotations

import collections
import pickle

import pytest
import torch

from nasengine.utils.safe_load import CheckpointError, load_checkpoint
from tests.payload_helpers import plant, truncated


def test_a_planted_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    path = plant(tmp_path / "state.pt", marker)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, what="controller state")
    assert not marker.exists()
    message = str(info.value)
    assert "\n" not in message and repr(str(path)) in message and "controller state" in message
    assert "os.makedirs" in message and "not allowed" in message
    # The plant is real: an unrestricted load runs it.
    torch.load(path, weights_only=False)
    assert marker.is_dir()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", pickle.dumps({"step": 1}, protocol=4)])
def test_damaged_or_foreign_files_are_one_error(content, tmp_path):
    path = tmp_path / "state.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is corrupt or holds objects that are not allowed") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def test_a_truncated_file_is_one_error(tmp_path):
    path = truncated(tmp_path / "state.pt")
    with pytest.raises(CheckpointError, match="the file is corrupt") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_required_keys_are_checked(tmp_path):
    torch.save({"model": {}}, tmp_path / "a.pt")
    torch.save([1, 2], tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=r"missing \['step'\]"):
        load_checkpoint(tmp_path / "a.pt", required=("model", "step"))
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_checkpoint(tmp_path / "b.pt", required=("model",))


def test_plain_data_and_tensors_load(tmp_path):
    state = {"model": collections.OrderedDict(w=torch.ones(2, 3)), "decisions": [("op", 3, "choice")],
             "rng": torch.get_rng_state(), "log": [{"reward": 0.5, "skipped": None, "ok": True}], "step": 7}
    torch.save(state, tmp_path / "s.pt")
    loaded = load_checkpoint(tmp_path / "s.pt", required=("model", "step"))
    assert torch.equal(loaded["model"]["w"], state["model"]["w"]) and torch.equal(loaded["rng"], state["rng"])
    assert loaded["decisions"] == [("op", 3, "choice")] and loaded["log"] == state["log"] and loaded["step"] == 7


def test_a_missing_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nowhere.pt")
