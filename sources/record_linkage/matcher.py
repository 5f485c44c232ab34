"""Fellegi-Sunter matching of customer records (splink 5, DuckDB) by sources/record_linkage/matching.yml.

    from sources.record_linkage import load_config, match_records
    result = match_records(records, load_config())   # records: customers' lake columns
    result.links      # one row per scored pair at or above `review`: match weight, probability,
                      # decision (merge / review), per comparison its level and agree/partial/disagree/missing
    result.clusters   # unique_id -> cluster_id, merging only pairs at or above `merge`
                      # (and pairs a person confirmed; never two records of a rejected pair)
    result.model      # the trained splink model (a dict: m and u per level), result.floored its guarded levels

Training needs no labels: u from random pairs, m by EM on the configured blocking rules (each
trains the comparisons it leaves free), term-frequency adjustments on names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from sources.record_linkage.config import Comparison, MatchingConfig
from sources.record_linkage.decisions import apply_decisions
from sources.record_linkage.features import UNIQUE_ID, prepare

AGREEMENT = ("agree", "partial", "disagree", "missing")


class MatchingError(RuntimeError):
    """The model cannot be trained or applied; the message says which comparison and why."""


@dataclass
class MatchResult:
    links: pd.DataFrame
    clusters: pd.DataFrame
    model: dict
    floored: list[str] = field(default_factory=list)  # "<comparison>: <level>" given training.m_floor
    # pair keys of decisions not applied: a record of the pair is not among this run's records
    unapplied: list[str] = field(default_factory=list)


def _comparison(c: Comparison):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    # splink's own comparisons where one fits, their levels under the configured name
    if c.kind == "name":
        library = cl.ForenameSurnameComparison(
            c.forename,
            c.surname,
            jaro_winkler_thresholds=list(c.jaro_winkler),
            forename_surname_concat_col_name=c.full_name,
        )
        return cl.CustomComparison(
            comparison_levels=library.create_comparison_levels(), output_column_name=c.name
        )
    if c.kind == "string":
        levels = [
            cll.NullLevel(c.column),
            cll.ExactMatchLevel(c.column, term_frequency_adjustments=c.term_frequency),
        ]
        if c.as_written and c.jaro_winkler:
            levels.append(cll.JaroWinklerLevel(c.as_written, c.jaro_winkler[0]))
        levels += [cll.JaroWinklerLevel(c.column, t) for t in c.jaro_winkler]
        levels.append(cll.ElseLevel())
        return cl.CustomComparison(comparison_levels=levels, output_column_name=c.name)
    if c.kind == "date":
        library = cl.DateOfBirthComparison(
            c.column,
            input_is_string=False,
            datetime_thresholds=[t for t, _ in c.within],
            datetime_metrics=[m for _, m in c.within],
        )
        return cl.CustomComparison(
            comparison_levels=library.create_comparison_levels(), output_column_name=c.name
        )
    # columns: null when every column is missing on either side, then each level's columns agree
    nulls = " and ".join(f'("{col}_l" is null or "{col}_r" is null)' for col in c.columns)
    levels = [cll.CustomLevel(nulls, label_for_charts="all missing").configure(is_null_level=True)]
    for level in c.levels:
        cond = " and ".join(f'"{col}_l" = "{col}_r"' for col in level)
        levels.append(cll.CustomLevel(cond, label_for_charts=f"same {' and '.join(level)}"))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(comparison_levels=levels, output_column_name=c.name)


def _settings(config: MatchingConfig):
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        comparisons=[_comparison(c) for c in config.comparisons],
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in config.blocking],
        probability_two_random_records_match=config.prior,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["source_system", "first_name", "last_name"],
    )


def floor_parameters(model: dict, m_floor: float, u_floor: float) -> list[str]:
    """Give every non-null level whose m EM left untrained, 0 or below `m_floor` that floor, and
    every level no random pair fell into a u of `u_floor` (the sample's resolution), in place;
    returns those levels (`<comparison>: <level> (m|u)`). splink refuses m or u of 0, and a level
    no match fell into in training would otherwise veto every pair it sees."""
    floored = []
    for comp in model["comparisons"]:
        for level in comp["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            label = f"{comp['output_column_name']}: {level.get('label_for_charts', level['sql_condition'])}"
            for key, floor in (("m_probability", m_floor), ("u_probability", u_floor)):
                v = level.get(key)
                if not isinstance(v, int | float) or v < floor:
                    level[key] = floor
                    floored.append(f"{label} ({key[0]})")
    return floored


def train(prepared: pd.DataFrame, config: MatchingConfig, db_api=None) -> tuple[dict, list[str]]:
    """The trained model (splink settings dict with m and u) and the levels given training.m_floor."""
    from splink import DuckDBAPI, Linker, block_on

    db_api = db_api or DuckDBAPI()
    linker = Linker(db_api.register(prepared), _settings(config), log_level=logging.WARNING)
    linker.training.estimate_u_using_random_sampling(max_pairs=config.u_max_pairs, seed=config.seed)
    for rule in config.em_blocking:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), estimate_without_term_frequencies=True
            )
        except (ValueError, ZeroDivisionError) as exc:
            raise MatchingError(
                f"{config.path.name}: training.em_blocking {list(rule)}: EM failed ({exc}); a rule whose "
                "pairs are almost all matches or almost none cannot separate them: block on other columns"
            ) from exc
    model = linker.misc.save_model_to_json()
    floored = floor_parameters(model, config.m_floor, 1.0 / config.u_max_pairs)
    return model, floored


def _agreement(gamma: pd.Series, levels: int) -> pd.Series:
    """splink's level index (gamma: -1 null, levels-1 the first non-null level ... 0 else) as
    agree (the most specific level), partial, disagree (the else level) or missing."""
    top = levels - 1
    return gamma.map(
        lambda g: "missing" if g == -1 else "agree" if g == top else "disagree" if g == 0 else "partial"
    )


def score(
    prepared: pd.DataFrame,
    config: MatchingConfig,
    model: dict,
    db_api=None,
    decisions: pd.DataFrame | None = None,
) -> MatchResult:
    """Links at or above `review` and clusters at `merge`, with a trained `model`; a person's
    `decisions` (sources.record_linkage.decisions) override the model's."""
    from splink import DuckDBAPI, Linker

    db_api = db_api or DuckDBAPI()
    linker = Linker(db_api.register(prepared), model, log_level=logging.WARNING)
    pairs = linker.inference.predict(threshold_match_probability=config.review).as_pandas_dataframe()
    links = pd.DataFrame(
        {
            "unique_id_l": pairs[f"{UNIQUE_ID}_l"].astype(str),
            "unique_id_r": pairs[f"{UNIQUE_ID}_r"].astype(str),
            "match_weight": pairs["match_weight"].astype(float),
            "match_probability": pairs["match_probability"].astype(float),
        }
    )
    for comp in model["comparisons"]:
        name = comp["output_column_name"]
        labels = [lv.get("label_for_charts", lv["sql_condition"]) for lv in comp["comparison_levels"]]
        n = sum(1 for lv in comp["comparison_levels"] if not lv.get("is_null_level"))
        gamma = pairs[f"gamma_{name}"].astype(int)
        links[f"{name}_agreement"] = _agreement(gamma, n)
        # the level's label (the null level first in `labels`, then gamma n-1 .. 0)
        links[f"{name}_level"] = gamma.map(
            lambda g, labels=labels, n=n: labels[0] if g == -1 else labels[n - g]
        )
    likely = links["match_probability"] >= config.merge
    links["decision"] = "review"
    links["reason"] = ""
    vetoed = pd.Series(False, index=links.index)
    for name, unless in config.merge_requires:
        veto = links[f"{name}_agreement"] == "disagree"
        for other in unless:
            veto &= links[f"{other}_agreement"] != "agree"
        links.loc[likely & veto & ~vetoed, "reason"] = f"disagrees on {name}" + (
            f" and {' or '.join(unless)} does not agree" if unless else ""
        )
        vetoed |= veto
    links.loc[likely & ~vetoed, "decision"] = "merge"
    links, unapplied = apply_decisions(links, decisions, prepared[UNIQUE_ID])
    merges = links[links["decision"] == "merge"]
    return MatchResult(links, clusters(prepared[[UNIQUE_ID]], merges, db_api), model, unapplied=unapplied)


def clusters(nodes: pd.DataFrame, merges: pd.DataFrame, db_api=None) -> pd.DataFrame:
    """unique_id -> cluster_id, the connected components of the `merges` links (splink's
    clustering; a record without a merge is its own cluster)."""
    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    db_api = db_api or DuckDBAPI()
    out = cluster_pairwise_predictions_at_threshold(
        nodes,
        merges[["unique_id_l", "unique_id_r"]],
        db_api,
        node_id_column_name=UNIQUE_ID,
        edge_id_column_name_left="unique_id_l",
        edge_id_column_name_right="unique_id_r",
    ).as_pandas_dataframe()
    return out[["cluster_id", UNIQUE_ID]].sort_values([UNIQUE_ID]).reset_index(drop=True)


def match_records(
    records: pd.DataFrame, config: MatchingConfig, decisions: pd.DataFrame | None = None
) -> MatchResult:
    """Train on `records` (customers' lake columns, see features.RECORD_COLUMNS) and score them;
    `decisions` (review.read_decisions) confirm or reject pairs whatever the model says."""
    prepared = prepare(records)
    model, floored = train(prepared, config)
    result = score(prepared, config, model, decisions=decisions)
    result.floored = floored
    return result
