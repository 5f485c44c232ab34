"""The probabilistic identity stage: Fellegi-Sunter matching (splink 5 on DuckDB) of customer
records that share no identifier. Plain Python (no Dagster); configuration in matching.yml."""

from sources.record_linkage.config import MatchingConfig, MatchingConfigError, load_config
from sources.record_linkage.decisions import DECISIONS, apply_decisions, pair_key, pair_keys
from sources.record_linkage.features import prepare
from sources.record_linkage.matcher import MatchingError, MatchResult, match_records, score, train
from sources.record_linkage.review import DecisionRead, DecisionSheetError, read_decisions, write_review_sheet

__all__ = [
    "DECISIONS",
    "DecisionRead",
    "DecisionSheetError",
    "apply_decisions",
    "pair_key",
    "pair_keys",
    "read_decisions",
    "write_review_sheet",
    "MatchResult",
    "MatchingConfig",
    "MatchingConfigError",
    "MatchingError",
    "load_config",
    "match_records",
    "prepare",
    "score",
    "train",
]
