"""charts/lambda-alias-controller/README.md documents every value with its real default."""

from __future__ import annotations

import re

import yaml

from deploy_support import CHART, values_leaf_paths

ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]*)`\s*\|\s*(.+?)\s*\|\s*$")


def documented_values() -> dict[str, str]:
    readme = (CHART / "README.md").read_text()
    table = readme.split("## Values", 1)[1]
    rows = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if match:
            key, default, description = match.groups()
            assert key not in rows, f"{key} is documented twice"
            assert description.strip(), f"{key} has no description"
            rows[key] = default
    return rows


def test_every_value_is_documented_and_nothing_else():
    values = values_leaf_paths(yaml.safe_load((CHART / "values.yaml").read_text()))
    documented = documented_values()
    assert sorted(set(values) - set(documented)) == [], "values.yaml keys missing from README.md"
    assert sorted(set(documented) - set(values)) == [], "README.md documents keys values.yaml lacks"


def test_documented_defaults_are_the_real_defaults():
    values = values_leaf_paths(yaml.safe_load((CHART / "values.yaml").read_text()))
    for key, default in documented_values().items():
        assert yaml.safe_load(default) == values[key], f"{key}: README says {default!r}, values.yaml {values[key]!r}"


def test_values_paths_include_nested_keys():
    assert {"serviceMonitor.enabled", "resources.limits.memory", "aws.endpointUrl", "watchNamespaces"} <= set(
        values_leaf_paths(yaml.safe_load((CHART / "values.yaml").read_text()))
    )
