"""The probabilistic identity stage: Fellegi-Sunter matching (splink 5 on DuckDB) of customer
records that share no identifier. Plain Python (no Dagster); configuration in matching.yml."""

from sources.record_linkage.config import MatchingConfig, MatchingConfigError, load_config
from sources.record_linkage.features import prepare
from sources.record_linkage.matcher import MatchingError, MatchResult, match_records, score, train

__all__ = [
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
