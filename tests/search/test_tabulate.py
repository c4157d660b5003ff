from __future__ import annotations

import json

import pytest

from nasengine.cli.main import main
from nasengine.evaluators.table import TableEvaluator
from nasengine.search.tabulate import tabulate
from tests import toy_space  # noqa: F401  registers the "toy" space
from tests.toy_space import ToySpace


def test_tabulate_trains_every_arch_and_replays(tmp_path):
    space = ToySpace()
    table = tabulate(space, tmp_path / "toy.json", progress=False, epochs=2)
    assert len(table["entries"]) == 4 and {e["id"] for e in table["entries"]} == {a.id for a in space.all_archs()}
    assert all(0.1 < e["acc"] <= 1.0 and e["macs"] == space.cost(space.arch(e["choices"])).macs for e in table["entries"])
    replay = TableEvaluator(space, path=tmp_path / "toy.json")
    arch = space.arch({"kernel": "k5", "width": 8})
    assert replay.evaluate(arch).metrics["acc"] == next(e["acc"] for e in table["entries"] if e["id"] == arch.id)
    with pytest.raises(ValueError, match="was made for space 'toy' with config"):
        TableEvaluator(ToySpace(num_classes=5), path=tmp_path / "toy.json")


def test_tabulate_resumes_from_its_partial_log(tmp_path):
    space = ToySpace()
    out = tmp_path / "t.json"
    done = list(space.all_archs())[:3]
    partial = out.with_name(out.name + ".partial.jsonl")
    partial.write_text("".join(json.dumps({"id": a.id, "choices": dict(a.choices), "acc": 0.5, "macs": 1, "params": 1}) + "\n"
                               for a in done))
    table = tabulate(space, out, progress=False, epochs=1)
    accs = [e["acc"] for e in table["entries"]]
    assert accs[:3] == [0.5, 0.5, 0.5] and accs[3] != 0.5  # only the missing one was trained
    assert not partial.exists()


def test_tabulate_refuses_huge_spaces(capsys, tmp_path):
    assert main(["tabulate", "--space", "shufflenet", "--out", str(tmp_path / "x.json")]) == 2
    assert "architectures; at most 5,000 can be enumerated" in capsys.readouterr().err


def test_tabulate_seeds_average_over_seeds(tmp_path):
    table = tabulate(ToySpace(), tmp_path / "r.json", seeds=2, progress=False, epochs=1)
    assert all(len(e["accs"]) == 2 for e in table["entries"])
    # the second seed's run is the run a single seed with the next seed makes
    single = tabulate(ToySpace(), tmp_path / "s.json", seed=1, progress=False, epochs=1)
    assert [e["accs"][1] for e in table["entries"]] == [e["acc"] for e in single["entries"]]
    assert table["train"]["repeats"] == 2  # the key tables have always used
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        tabulate(ToySpace(), tmp_path / "z.json", seeds=0, progress=False)


@pytest.mark.parametrize("option", ["--seeds", "--repeats"])
def test_tabulate_cli_seeds_and_its_old_spelling(tmp_path, capsys, option):
    out = tmp_path / "t.json"
    assert main(["tabulate", "--space", "toy", "--epochs", "1", option, "2", "--out", str(out), "--quiet"]) == 0
    table = json.loads(out.read_text())
    assert table["train"]["repeats"] == 2 and all(len(e["accs"]) == 2 for e in table["entries"])
    err = capsys.readouterr().err
    if option == "--repeats":
        assert err == "nasengine: note: --repeats is deprecated; use --seeds\n"
    else:
        assert "deprecated" not in err


def test_tabulate_samples_distinct_archs_under_the_limit(tmp_path):
    space = ToySpace()
    costs = sorted({space.cost(a).macs for a in space.all_archs()})
    table = tabulate(space, tmp_path / "s.json", samples=2, max_macs=costs[-2], progress=False, epochs=1)
    entries = table["entries"]
    assert len({e["id"] for e in entries}) == 2 and all(e["macs"] <= costs[-2] for e in entries)
    assert table["selection"] == {"samples": 2, "max_macs": costs[-2]}
    with pytest.raises(ValueError, match="distinct archs under the limit"):
        tabulate(space, tmp_path / "t.json", samples=4, max_macs=costs[0], progress=False, epochs=1)


def test_tabulate_workers_give_the_table_one_process_gives(tmp_path):
    from nasengine.registry import get_space

    # a registered built-in space: spawned workers rebuild it by name
    space = get_space("channel_width", backbone="small", input_size=8, num_classes=10, in_channels=1, stem_width=4,
                      stage_widths=[4], stage_repeats=[1], widths=[0.5, 1.0], rounding="floor")
    one = tabulate(space, tmp_path / "one.json", progress=False, epochs=1, max_steps=3)
    two = tabulate(space, tmp_path / "two.json", workers=2, progress=False, epochs=1, max_steps=3)
    assert [e["id"] for e in one["entries"]] == [e["id"] for e in two["entries"]]  # table order, not finish order
    assert [e["acc"] for e in one["entries"]] == pytest.approx([e["acc"] for e in two["entries"]], abs=0.02)


def _tabulate_cli(out, *extra):
    return main(["tabulate", "--space", "toy", "--samples", "2", "--out", str(out), "--quiet", *extra])


def test_tabulate_refuses_to_mix_entries_of_other_settings(tmp_path, capsys):
    out = tmp_path / "t.json"
    partial = out.with_name(out.name + ".partial.jsonl")

    def stop_after_one(*args, **kwargs):  # an interrupt after the first architecture
        first = next(real(*args, **kwargs))
        yield first
        raise KeyboardInterrupt

    import nasengine.search.tabulate as module

    real = module._train_all
    module._train_all = stop_after_one
    try:
        assert _tabulate_cli(out, "--epochs", "1") == 130
    finally:
        module._train_all = real
    header, entry = (json.loads(line) for line in partial.read_text().splitlines())
    assert header["settings"]["train"]["epochs"] == 1 and "id" in entry
    capsys.readouterr()
    assert _tabulate_cli(out, "--epochs", "2", "--lr", "0.5") == 2
    err = capsys.readouterr().err
    assert "partial.jsonl holds a run with other settings (epochs 1 -> 2, lr 0.1 -> 0.5, val_every 1 -> 2)" in err
    assert len(partial.read_text().splitlines()) == 2  # untouched
    assert _tabulate_cli(out, "--epochs", "1") == 0
    assert "resuming from" in capsys.readouterr().err and not partial.exists()
    table = json.loads(out.read_text())
    assert table["entries"][0] == entry and table["threads"] >= 1

    # a finished table: the same settings return it, others are refused, --force trains anew
    before = out.read_text()
    assert _tabulate_cli(out, "--epochs", "1") == 0 and out.read_text() == before
    assert "already holds this table" in capsys.readouterr().err
    assert _tabulate_cli(out, "--epochs", "2") == 2 and out.read_text() == before
    assert "epochs 1 -> 2" in capsys.readouterr().err
    assert _tabulate_cli(out, "--epochs", "2", "--force", "--threads", "1") == 0
    assert json.loads(out.read_text())["train"]["epochs"] == 2


def test_tabulate_logs_one_line_per_arch_off_a_terminal(tmp_path, capsys):
    tabulate(ToySpace(), tmp_path / "toy.json", epochs=1, seeds=2)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tabulate ")]
    assert [line.split()[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    entry = json.loads((tmp_path / "toy.json").read_text())["entries"][-1]
    assert any(entry["id"] in line and f"acc {entry['acc']:.4f}" in line for line in lines)
    tabulate(ToySpace(), tmp_path / "quiet.json", epochs=1, progress=False)
    assert "tabulate " not in capsys.readouterr().err
