"""The files a run writes, defined once: each is a frozen dataclass record that its writer
saves with ``save``/``to_dict`` and its readers read with ``load``/``from_dict`` (validated,
one-line ``ValueError`` naming the file and the bad key)."""

from __future__ import annotations

from nasengine.records.base import Record, read_json
from nasengine.records.bench import BenchReport, LatencyCheck, LatencyCheckRow
from nasengine.records.compress import CompressRecord
from nasengine.records.export import ExportRecord, ParityInputs, ParityRecord, Preprocessing, preprocessing_in
from nasengine.records.search import FRONTS, RankCheck, RankCheckRow, SearchResult, StandaloneAcc, TrialRecord

__all__ = ["BenchReport", "CompressRecord", "ExportRecord",
           "FRONTS", "LatencyCheck", "LatencyCheckRow", "ParityInputs", "ParityRecord",
           "Preprocessing", "RankCheck", "RankCheckRow", "Record", "SearchResult", "StandaloneAcc", "TrialRecord",
           "preprocessing_in", "read_json"]
