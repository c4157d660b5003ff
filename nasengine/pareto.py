"""Pareto fronts of (maximise, minimise...) points."""

from __future__ import annotations

from typing import Sequence


def dominates(a: Sequence[float], b: Sequence[float], maximize: Sequence[bool]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere."""
    better = False
    for x, y, up in zip(a, b, maximize):
        if (x < y) if up else (x > y):
            return False
        if x != y:
            better = True
    return better


def pareto_front(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices of the non-dominated points, in input order (duplicates all kept)."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, maximize) for q in points)]


def nondominated_fronts(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[list[int]]:
    """Indices of ``points`` grouped into successive Pareto fronts (NSGA-II's sort).
    Plain O(n^2) per front: populations here are tens to hundreds of trials."""
    left = list(range(len(points)))
    fronts: list[list[int]] = []
    while left:
        front = [i for i in left if not any(dominates(points[j], points[i], maximize) for j in left if j != i)]
        fronts.append(front)
        taken = set(front)
        left = [i for i in left if i not in taken]
    return fronts


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II crowding distance of each point of one front (extremes are infinite)."""
    n = len(points)
    distance = [0.0] * n
    if n <= 2:
        return [float("inf")] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = float("inf")
        if high == low:
            continue
        for prev, mid, nxt in zip(order, order[1:], order[2:]):
            distance[mid] += (points[nxt][m] - points[prev][m]) / (high - low)
    return distance
