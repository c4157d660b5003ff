"""Per-layer compression policies searched by a reinforcement-learning agent (AMC).

The parts of AMC (He et al., "AMC: AutoML for Model Compression and Acceleration on Mobile
Devices", ECCV 2018) that do not depend on how a network is pruned:

* :class:`PrunableLayer` and :class:`ChannelCost`: the layers and their MACs as a function
  of per-layer preserve ratios;
* :class:`StateEmbedding`: AMC's per-layer state, min-max normalised;
* :class:`ChannelBudget`: the budget rule that keeps a MACs limit (and a :class:`MonotoneLimit`,
  such as a predicted latency) reachable;
* :data:`REWARDS`: accuracy, and ``-error * log(MACs)``;
* :class:`ChannelPruningEnv`: an episode over the layers, scored by a callback;
* :func:`run_episodes`: the resumable training loop for any ``nasengine.agent.Agent``.

HAQ (Wang et al., CVPR 2019) trains the same agent on bit widths: :class:`BitCost` and
:class:`BitBudget` are its resource model and budget rule, :class:`BitWidthEnv` its episode.
"""

from __future__ import annotations

from nasengine.layer_policy.amc_env import ChannelPruningEnv
from nasengine.layer_policy.bit_budget import BitBounds, BitBudget, BitCost
from nasengine.layer_policy.budget import ChannelBudget, MonotoneLimit
from nasengine.layer_policy.embedding import FEATURES, StateEmbedding, min_max_columns
from nasengine.layer_policy.episodes import EpisodeResult, EpisodeRun, PolicyEnv, run_episodes
from nasengine.layer_policy.haq_env import BIT_FEATURES, BitLayer, BitWidthEnv
from nasengine.layer_policy.layers import ChannelCost, PrunableLayer
from nasengine.layer_policy.rewards import REWARDS, accuracy_reward, error_log_macs_reward, reward_function

__all__ = [
    "BIT_FEATURES", "BitBounds", "BitBudget", "BitCost", "BitLayer", "BitWidthEnv", "FEATURES",
    "REWARDS", "ChannelBudget", "ChannelCost", "ChannelPruningEnv", "EpisodeResult", "EpisodeRun",
    "MonotoneLimit", "PolicyEnv", "PrunableLayer", "StateEmbedding", "accuracy_reward", "error_log_macs_reward",
    "min_max_columns", "reward_function", "run_episodes",
]
