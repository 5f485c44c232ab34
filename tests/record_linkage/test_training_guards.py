"""The model's guards: a level EM gave m = 0 (or never trained) is refused by splink; the floor
makes it scorable and says which level it was given to. The configuration is validated once."""

from __future__ import annotations

import copy

import pytest
from splink import DuckDBAPI, Linker

from sources.record_linkage import MatchingConfigError, load_config, prepare, score, train
from sources.record_linkage.config import parse_config
from sources.record_linkage.matcher import floor_parameters
from tests.record_linkage.people import generate


@pytest.fixture(scope="module")
def trained():
    g = generate(600, seed=3)
    prepared = prepare(g.records)
    config = load_config()
    model, _ = train(prepared, config)
    return prepared, config, model


def test_a_level_with_m_zero_is_refused_by_splink_and_floored_by_the_guard(trained):
    prepared, config, model = trained
    broken = copy.deepcopy(model)
    level = broken["comparisons"][0]["comparison_levels"][-1]  # first_name: all other comparisons
    level["m_probability"] = 0.0
    with pytest.raises(ValueError, match="m_probability value 0.0 is below the minimum"):
        Linker(DuckDBAPI().register(prepared), broken)
    floored = floor_parameters(broken, config.m_floor, 1.0 / config.u_max_pairs)
    assert "first_name: All other comparisons (m)" in floored
    assert level["m_probability"] == config.m_floor
    result = score(prepared, config, broken)
    assert len(result.links) > 0


def test_the_built_in_configuration_is_read_once():
    assert load_config() is load_config()


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["thresholds"].update(review=0.99),
            r"thresholds\.review: must be below thresholds\.merge",
        ),
        (lambda d: d["blocking"].append(["email"]), r"blocking\[\d+\]: unknown column 'email'"),
        (lambda d: d.update(colour="blue"), r"colour: unknown field"),
        (
            lambda d: d["training"].update(em_blocking=[["birth_date"]]),
            r"training\.em_blocking: every rule blocks on a column of comparison 'birth_date'",
        ),
        (
            lambda d: d.update(merge_requires=[{"comparison": "nickname"}]),
            r"merge_requires\[0\]: names no comparison .*'nickname'",
        ),
        (
            lambda d: d["comparisons"][0].update(jaro_winkler=[0.8, 0.9]),
            r"comparisons\[0\]\.jaro_winkler: must be strictly decreasing",
        ),
    ],
)
def test_a_bad_configuration_names_the_file_and_field(edit, message):
    import yaml

    config = load_config()
    data = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    edit(data)
    with pytest.raises(MatchingConfigError, match="^matching\\.yml: " + message):
        parse_config(config.path, data)
