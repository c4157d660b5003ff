from __future__ import annotations

from nasengine.pareto import crowding_distance, dominates, nondominated_fronts, pareto_front


def test_dominance_respects_directions():
    assert dominates((0.9, 10), (0.8, 20), (True, False))
    assert not dominates((0.9, 30), (0.8, 20), (True, False))
    assert not dominates((0.9, 10), (0.9, 10), (True, False))


def test_fronts_and_crowding():
    points = [(0.9, 30), (0.8, 10), (0.85, 20), (0.7, 25), (0.6, 40)]
    assert pareto_front(points, (True, False)) == [0, 1, 2]
    assert nondominated_fronts(points, (True, False)) == [[0, 1, 2], [3], [4]]
    distance = crowding_distance([(0.0, 3.0), (1.0, 2.0), (3.0, 0.0)])
    assert distance[0] == distance[2] == float("inf") and distance[1] == 2.0
