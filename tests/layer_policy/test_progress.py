"""Episode progress: TensorBoard scalars of every episode, with or without progress lines."""

from __future__ import annotations

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nasengine.layer_policy.episodes import EpisodeResult
from nasengine.layer_policy.progress import EpisodeProgress


def _result(episode: int, accuracy: float, best: bool) -> EpisodeResult:
    return EpisodeResult(episode=episode, reward=accuracy - 0.1, actions=[[0.5]],
                         info={"accuracy": accuracy, "macs_ratio": 0.5, "policy": [0.5], "exact": True},
                         losses={"critic": 0.2} if episode else {}, best=best)


def test_every_episode_is_logged_to_tensorboard_even_without_progress_lines(tmp_path, capsys):
    progress = EpisodeProgress("amc", 3, False, lambda info: "", tensorboard=tmp_path / "tb")
    for episode, (accuracy, best) in enumerate([(0.5, True), (0.4, False), (0.7, True)]):
        progress(_result(episode, accuracy, best))
    progress.close()
    assert capsys.readouterr().err == ""  # progress off: nothing printed
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"amc/reward", "amc/accuracy", "amc/macs_ratio", "amc/best_accuracy", "amc/loss_critic"} <= set(scalars)
    assert not any(tag.endswith(("policy", "exact")) for tag in scalars)  # lists and flags are not scalars

    def values(tag: str) -> list[tuple[int, float]]:
        return [(e.step, round(e.value, 4)) for e in events.Scalars(tag)]
    assert values("amc/accuracy") == [(0, 0.5), (1, 0.4), (2, 0.7)]
    assert values("amc/best_accuracy") == [(0, 0.5), (1, 0.5), (2, 0.7)]
    assert values("amc/reward") == [(0, 0.4), (1, 0.3), (2, 0.6)]


def test_no_folder_writes_nothing(tmp_path):
    progress = EpisodeProgress("haq", 1, False, lambda info: "")
    progress(_result(0, 0.5, True))
    progress.close()
    assert progress.writer is None and not any(tmp_path.iterdir())
