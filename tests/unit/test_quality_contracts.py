"""The contract's `quality:` section as `sluice contracts check` sees it: unknown rule types and keys, columns,
types, references to other contracts and expressions are clear errors naming file and rule."""

from __future__ import annotations

from pathlib import Path

from sluice_lib.contracts import ContractStore

USERS = """
dataset: users
schema:
  fields:
    - {name: user_id, type: integer, constraints: {required: true}}
    - {name: user_name}
  primaryKey: [user_id]
"""
STREAMS = """
dataset: streams
schema:
  fields:
    - {name: user_id, type: integer}
    - {name: track_id}
    - {name: listen_time, type: datetime}
quality:
"""


def check(tmp_path: Path, *rules: str, users: str = USERS) -> list[str]:
    (tmp_path / "users.yaml").write_text(users, encoding="utf-8")
    text = STREAMS + "".join(f"  - {rule}\n" for rule in rules)
    (tmp_path / "streams.yaml").write_text(text, encoding="utf-8")
    return [p.replace(f"{tmp_path}/", "") for p in ContractStore(tmp_path).check_all()]


def test_quality_rules_of_every_type_well_formed_pass(tmp_path: Path) -> None:
    assert (
        check(
            tmp_path,
            "{type: row_count, min: 1, max: 1000000, severity: reject}",
            "{type: row_count_anomaly, runs: 10, min_runs: 3, severity: warn}",
            "{type: completeness, column: track_id, min: 0.99, severity: warn}",
            "{type: unique, columns: [user_id, listen_time], severity: warn}",
            "{type: references, column: user_id, dataset: users, severity: warn}",
            "{type: freshness, column: listen_time, max_age: 2d, severity: warn}",
            "{type: distinct_count, column: track_id, min: 1, severity: warn}",
            "{type: mean, column: user_id, max: 1000, severity: warn}",
            "{type: min, column: user_id, min: 1, severity: reject}",
            "{type: max, column: user_id, max: 100000, severity: reject}",
            "{type: expression, check: 'user_id > 0 and not is_null(track_id)', severity: reject}",
        )
        == []
    )


def test_quality_unknown_rule_type_names_the_known_ones(tmp_path: Path) -> None:
    assert check(tmp_path, "{type: rowcount, min: 1, severity: warn}") == [
        "streams.yaml: quality[0]: unknown rule type 'rowcount' (known: row_count, row_count_anomaly, completeness, "
        "unique, references, freshness, distinct_count, mean, min, max, expression)"
    ]


def test_quality_unknown_key_of_a_rule_is_an_error(tmp_path: Path) -> None:
    assert check(tmp_path, "{type: row_count, min: 1, severity: warn, maximum: 3}") == [
        "streams.yaml: quality[0].row_count.maximum: unknown key (see docs/contracts.md for what this part of a "
        "contract takes)"
    ]


def test_quality_rule_without_severity_is_an_error(tmp_path: Path) -> None:
    assert check(tmp_path, "{type: row_count, min: 1}") == [
        "streams.yaml: quality[0].row_count.severity: Field required"
    ]


def test_quality_rule_of_unknown_column_names_the_columns(tmp_path: Path) -> None:
    assert check(tmp_path, "{type: completeness, column: trackid, min: 0.5, severity: warn}") == [
        "streams.yaml: quality[0] (completeness(trackid)) names columns streams does not have: trackid (rules run on "
        "the validated rows, before the transform: user_id, track_id, listen_time)"
    ]


def test_quality_mean_of_a_text_column_and_freshness_of_a_number_are_errors(tmp_path: Path) -> None:
    assert check(tmp_path, "{type: mean, column: track_id, max: 3, severity: warn}") == [
        "streams.yaml: quality[0] (mean(track_id)): mean applies to numeric columns, track_id is string"
    ]
    assert check(tmp_path, "{type: freshness, column: user_id, max_age: 1d, severity: warn}") == [
        "streams.yaml: quality[0] (freshness(user_id)): user_id must be a date or datetime, not integer"
    ]


def test_quality_references_of_unknown_dataset_key_or_type_are_errors(tmp_path: Path) -> None:
    assert check(tmp_path, "{type: references, column: user_id, dataset: userz, severity: warn}") == [
        "streams.yaml: quality[0] (references(user_id->userz.user_id)).dataset: no contract for dataset 'userz' "
        "(known: streams, users)"
    ]
    assert check(tmp_path, "{type: references, column: track_id, dataset: users, severity: warn}") == [
        "streams.yaml: quality[0] (references(track_id->users.track_id)).key: the curated users table has no column "
        "track_id (it has user_id, user_name)"
    ]
    assert check(
        tmp_path, "{type: references, column: track_id, dataset: users, key: user_id, severity: warn}"
    ) == [
        "streams.yaml: quality[0] (references(track_id->users.user_id)): track_id is string here but integer in users"
    ]


def test_quality_expression_outside_the_language_or_of_mismatched_types_is_an_error(tmp_path: Path) -> None:
    assert check(tmp_path, "{type: expression, check: \"__import__('os')\", severity: reject}") == [
        "streams.yaml: quality[0].expression.check: check \"__import__('os')\": __import__('os') is not allowed "
        "(functions: abs(x), round(x[, digits]), is_null(x))"
    ]
    problems = check(tmp_path, "{type: expression, check: 'user_id + track_id > 1', severity: reject}")
    assert problems == [
        "streams.yaml: quality[0] (expression(user_id + track_id > 1)).check: check 'user_id + track_id > 1' cannot "
        "be computed on these columns: Function 'add' has no kernel matching input types (int64, string)"
    ]


def test_quality_two_rules_of_one_name_are_an_error(tmp_path: Path) -> None:
    assert check(
        tmp_path,
        "{type: row_count, min: 1, severity: warn}",
        "{type: row_count, max: 9, severity: reject}",
    ) == ["streams.yaml: quality[0] (row_count): another rule has the same name; give one a `name`"]


def test_frictionless_unique_constraint_becomes_a_reject_rule(tmp_path: Path) -> None:
    (tmp_path / "users.yaml").write_text(
        USERS.replace("required: true", "required: true, unique: true"), "utf-8"
    )

    users = ContractStore(tmp_path).get("users")

    assert users is not None
    assert [(r.rule_name, r.severity) for r in users.quality_rules()] == [("unique(user_id)", "reject")]


def test_dataset_named_quality_is_refused(tmp_path: Path) -> None:
    (tmp_path / "quality.yaml").write_text(USERS.replace("dataset: users", "dataset: quality"), "utf-8")

    (problem,) = ContractStore(tmp_path).check_all()

    assert "dataset 'quality' is reserved: the catalog table of every run's quality results" in problem
