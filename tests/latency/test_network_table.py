"""A network's latency table: monotone grids, bilinear interpolation, and refusing a table
made for another network, thread count or machine."""

from __future__ import annotations

import json
import random

import pytest

from nasengine.latency.grid import LayerGrid
from nasengine.latency.network import NetworkLatencyTable
from nasengine.utils.timing import Timing

AXIS = (0.25, 0.5, 0.75, 1.0)


def test_measured_noise_becomes_a_grid_that_rises_along_both_axes():
    rng = random.Random(0)
    for _ in range(50):
        noisy = [[i * j + rng.uniform(-3, 3) for j in range(1, 5)] for i in range(1, 5)]
        grid = LayerGrid.monotone(AXIS, AXIS, [[max(0.0, v) for v in row] for row in noisy])
        assert grid.is_monotone()
        for i in range(4):  # the running maximum: never below what was measured
            assert all(grid.ms[i][j] >= max(0.0, noisy[i][j]) for j in range(4))
        # and so is the interpolation, between the grid points too
        xs = [rng.uniform(0.1, 1.0) for _ in range(30)]
        for a, b in zip(sorted(xs), sorted(xs)[1:]):
            y = rng.uniform(0.1, 1.0)
            assert grid(a, y) <= grid(b, y) + 1e-12 and grid(y, a) <= grid(y, b) + 1e-12


def test_interpolation_is_exact_at_grid_points_and_bilinear_between():
    ms = [[1.0, 2.0, 4.0, 8.0], [2.0, 3.0, 5.0, 9.0], [3.0, 5.0, 6.0, 10.0], [4.0, 6.0, 8.0, 12.0]]
    grid = LayerGrid.monotone(AXIS, AXIS, ms)
    for i, fin in enumerate(AXIS):
        for j, fout in enumerate(AXIS):
            assert grid(fin, fout) == ms[i][j]
    assert grid(0.375, 0.25) == pytest.approx(1.5)
    assert grid(0.375, 0.375) == pytest.approx((1 + 2 + 2 + 3) / 4)
    assert grid(0.1, 0.1) == 1.0  # below the grid: its smallest fraction's time (an upper bound)


def test_an_axis_pruning_never_changes_has_one_point():
    grid = LayerGrid.monotone((1.0,), AXIS, [[1.0, 2.0, 3.0, 4.0]])
    assert grid(0.3, 0.5) == grid(1.0, 0.5) == 2.0


@pytest.mark.parametrize(("axis", "ms"), [((0.5, 0.25, 1.0), [[1, 2, 3]]), ((0.5, 0.9), [[1, 2]]),
                                          (AXIS, [[1, 2, 3]]), ((1.0,), [[-1.0]])])
def test_bad_grids_are_refused(axis, ms):
    with pytest.raises(ValueError):
        LayerGrid.monotone((1.0,), axis, ms)


def _table(**changes) -> NetworkLatencyTable:
    values = dict(model={"structure": "abc", "input_shape": [1, 8, 8], "source": {"kind": "torchvision",
                                                                                  "name": "resnet18"}},
                  timing=Timing(threads=1), layers={"conv": LayerGrid.monotone(AXIS, (1.0,), [[1], [2], [3], [4]])},
                  rest_ms=-0.5, rest_slope_ms=1.0, machine={"processor": "x86_64", "cuda": None})
    return NetworkLatencyTable(**{**values, **changes})


def test_a_table_round_trips_through_json(tmp_path):
    table = _table()
    loaded = NetworkLatencyTable.load(table.save(tmp_path / "t.json"))
    assert loaded == table
    assert loaded.rest(0.5) == 0.0 and loaded.layers["conv"](0.6, 1.0) == pytest.approx(2.4)


def test_a_table_for_another_network_thread_count_or_machine_is_refused():
    table = _table()
    here = {"processor": "x86_64", "cuda": None}
    table.check({"structure": "abc", "input_shape": [1, 8, 8]}, machine=here, threads=1)
    with pytest.raises(ValueError, match="another network .*torchvision resnet18"):
        table.check({"structure": "def", "input_shape": [1, 8, 8]})
    with pytest.raises(ValueError, match="another network"):
        table.check({"structure": "abc", "input_shape": [1, 16, 16]})
    with pytest.raises(ValueError, match="1 thread"):
        table.check({"structure": "abc", "input_shape": [1, 8, 8]}, threads=2)
    with pytest.raises(ValueError, match="another machine: processor"):
        table.check({"structure": "abc", "input_shape": [1, 8, 8]}, machine={"processor": "arm64", "cuda": None})


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    ("{", "not valid JSON"),
    ({"format": "nasengine-latency/1"}, "not a nasengine network latency table"),
    ({"format": "nasengine-network-latency/1"}, "missing"),
])
def test_bad_table_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match=message) as caught:
        NetworkLatencyTable.load(path)
    assert "\n" not in str(caught.value)


def test_a_falling_grid_in_a_file_is_refused(tmp_path):
    data = _table().to_dict()
    data["layers"]["conv"]["ms"] = [[4], [3], [2], [1]]
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="must not fall"):
        NetworkLatencyTable.load(tmp_path / "t.json")
