"""Rank correlations: hand-computed values, ties, constant sides, bad input."""

from __future__ import annotations

import math

import pytest

from nasengine.utils.stats import kendall_tau, spearman_rho


def test_tau_and_rho_match_hand_computed_values():
    # x = 1..5, y = 3 1 2 5 4: of the 10 pairs, (1,2) (1,3) (4,5) are discordant -> tau = (7 - 3) / 10.
    assert kendall_tau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]) == pytest.approx(0.4)
    # Rank differences d = -2 1 1 -1 1: rho = 1 - 6 * 8 / (5 * 24) = 0.6.
    assert spearman_rho([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]) == pytest.approx(0.6)
    # Ties: x = 1 2 2 3, y = 1 3 2 2. The first element's 3 pairs are concordant, (2nd, 4th) is
    # discordant, (2nd, 3rd) is tied in x only, (3rd, 4th) in y only -> tau-b = (3 - 1) / sqrt(5 * 5).
    assert kendall_tau([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.4)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1 and spearman_rho([1, 2, 3], [1, 2, 3]) == 1
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3])) and math.isnan(spearman_rho([1, 2], [5, 5]))
    with pytest.raises(ValueError, match="equal length >= 2"):
        kendall_tau([1], [1])
