"""The consortium file: strict schema, errors that name the file, line, key and value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enfo_sdk.consortium.config import load_consortium_config, parse_consortium_config
from enfo_sdk.consortium.model import fit_learning_curve
from enfo_sdk.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consortium" / "consortium.yaml"

GOOD = """\
version: 1
competition: 0.5
learning_curve:
  forged: {points: [[100, 0.1167], [500, 0.1148], [1000, 0.1138]]}
  real: {e_inf: 0.11, alpha: 50.0, beta: 1.2}
members:
  - {name: a, local_rows: 1000, heterogeneity: 0.1, cost_per_row: 0.2, value_per_rmse: 100000, max_rows: 2000}
  - {name: b, local_rows: 500, heterogeneity: 0.2, cost_per_row: 0.2, value_per_rmse: 100000, max_rows: 2000}
"""


def test_a_good_file_builds_the_consortium_with_the_fitted_curve():
    config = parse_consortium_config(GOOD, "c.yaml")
    c = config.consortium("c.yaml")
    assert c.names == ("a", "b") and c.competition == 0.5
    assert np.allclose(c.heterogeneity, [0.1, 0.2]) and np.allclose(c.local_rows, [1000, 500])
    fit = fit_learning_curve([100, 500, 1000], [0.1167, 0.1148, 0.1138])
    assert c.forged_curve == fit
    assert (c.real_curve.e_inf, c.real_curve.alpha, c.real_curve.beta) == (0.11, 50.0, 1.2)
    assert np.allclose(config.rates(), np.linspace(0, 2, 41))


def test_the_example_validates():
    c = load_consortium_config(EXAMPLE).consortium(EXAMPLE)
    assert 3 <= c.size <= 5 and np.all(c.weights > 0)


@pytest.mark.parametrize("edit,message", [
    (("heterogeneity: 0.2", "heterogenity: 0.2"),
     r"c.yaml:8: members\[1\].heterogenity: unknown key 'heterogenity' \(did you mean 'heterogeneity'\?\)"),
    (("heterogeneity: 0.2", "heterogeneity: 1.5"), r"c.yaml:8: members\[1\].heterogeneity: .*less than 1.*1.5"),
    (("version: 1", "version: 2"), r"c.yaml:1: version: unsupported version 2"),
    (("name: b", "name: a"), r"members: member name\(s\) given twice: a"),
    (("real: {e_inf: 0.11, alpha: 50.0, beta: 1.2}", "real: {points: [[1, 2], [3, 4], [5, 6]], beta: 1.0}"),
     r"learning_curve.real: give either points or e_inf/alpha/beta, not both"),
    (("competition: 0.5", "competition: '0.5'"), r"c.yaml:2: competition: .*'0.5'"),
])
def test_mistakes_name_file_line_key_and_value(edit, message):
    with pytest.raises(ConfigError, match=message):
        parse_consortium_config(GOOD.replace(*edit), "c.yaml")


def test_a_member_the_shared_model_hurts_is_named_with_the_file():
    text = GOOD.replace("competition: 0.5", "competition: 3.0").replace(
        "heterogeneity: 0.2", "heterogeneity: 0.9")
    with pytest.raises(ConfigError, match=r"c.yaml: member\(s\) b: the shared model is a net loss"):
        parse_consortium_config(text, "c.yaml").consortium("c.yaml")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="consortium file not found: .*nope.yaml"):
        load_consortium_config(tmp_path / "nope.yaml")
