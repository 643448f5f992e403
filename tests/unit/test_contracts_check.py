"""`sluice contracts check` and the contract vocabulary of joins and aggregates: precise errors (file, field,
what is wrong) for malformed contracts and for contracts that disagree with each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice_lib.contracts import ContractStore, load_contract_file
from sluice_lib.errors import ContractError

ROOT = Path(__file__).resolve().parents[2]

USERS = """
dataset: users
schema:
  fields:
    - {name: user_id, type: integer, constraints: {required: true}}
    - {name: user_name}
    - {name: user_country}
  primaryKey: [user_id]
"""
STREAMS = """
dataset: streams
schema:
  fields:
    - {name: user_id, type: integer, constraints: {required: true}}
    - {name: listen_time, type: datetime}
pipeline:
  transform:
    join:
      - dataset: users
        on: [user_id]
        select: [user_name]
    derive: {listen_date: to_date(listen_time)}
  aggregates:
    - name: daily_listens
      partition_by: [listen_date]
      sql: SELECT listen_date, count(*) AS listens FROM streams GROUP BY listen_date
"""


def check(tmp_path: Path, **contracts: str) -> list[str]:
    for name, text in contracts.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return ContractStore(tmp_path).check_all()


def test_contracts_check_cli_shipped_contracts_are_all_well_formed() -> None:
    result = CliRunner().invoke(app, ["contracts", "check", str(ROOT / "contracts")])

    assert result.exit_code == 0, result.output
    assert "7 contracts OK: offers, orders, signups, songs, streams, tickets, users" in result.output


def test_contracts_check_cli_join_of_unknown_dataset_exits_1_naming_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "streams.yaml").write_text(
        STREAMS.replace("dataset: users", "dataset: userz"), encoding="utf-8"
    )

    result = CliRunner().invoke(app, ["contracts", "check", str(tmp_path)])

    assert result.exit_code == 1
    assert (
        f"{tmp_path / 'streams.yaml'}: pipeline.transform.join[0] (userz).dataset: no contract for dataset "
        "'userz' (known: streams)"
    ) in result.output.replace("\n", "")


def test_contracts_check_join_and_aggregate_of_known_datasets_pass(tmp_path: Path) -> None:
    assert check(tmp_path, users=USERS, streams=STREAMS) == []


def test_contract_join_on_key_the_yaml_spells_as_on_is_read_as_the_key_not_a_boolean(tmp_path: Path) -> None:
    (tmp_path / "streams.yaml").write_text(STREAMS, encoding="utf-8")

    contract = load_contract_file(tmp_path / "streams.yaml")

    assert contract.pipeline.transform.join[0].on == ["user_id"]
    assert contract.pipeline.transform.join[0].how == "left"
    assert contract.references() == ["users"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("select: [user_name]", "select: [user_name, nickname]"),
            "pipeline.transform.join[0] (users).select: the curated users table has no column nickname "
            "(it has user_id, user_name, user_country)",
        ),
        (
            ("- {name: user_id, type: integer, constraints: {required: true}}\n    - {name: listen_time",
             "- {name: user_id, type: string, constraints: {required: true}}\n    - {name: listen_time"),
            "pipeline.transform.join[0] (users).on: user_id is string in streams but integer in users",
        ),
    ],
)  # fmt: skip
def test_contracts_check_join_disagreeing_with_the_referenced_contract_names_the_problem(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    problems = check(tmp_path, users=USERS, streams=STREAMS.replace(*change, 1))

    assert problems == [f"{tmp_path / 'streams.yaml'}: {problem}"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("on: [user_id]", "on: [uid]"),
         "pipeline.transform.join[0] (users).on names columns streams does not have: uid (it has user_id, listen_time)"),
        (("select: [user_name]", "select: [listen_time]"),
         "pipeline.transform.join[0] (users).select would overwrite columns streams already has: listen_time"),
        (("select: [user_name]", "select: [user_id]"),
         "pipeline.transform.join[0] (users): select repeats the join keys user_id (they are kept from this side)"),
        (("on: [user_id]", "on: [user_id]\n        how: outer"),
         "pipeline.transform.join[0] (users).how: Input should be 'inner' or 'left'"),
        (("dataset: users\n", "dataset: streams\n"), "pipeline.transform.join[0] (streams): a dataset cannot join itself"),
        (("partition_by: [listen_date]", "partition_by: [day]"),
         "pipeline.aggregates[0] (daily_listens).partition_by names columns the curated streams table does not have: day"),
        (("name: daily_listens", "name: streams"), "pipeline.aggregates[0] (streams): an aggregate cannot take its dataset's name"),
        (("sql: SELECT", "sql: DROP TABLE streams; SELECT"),
         "pipeline.aggregates[0] (daily_listens).sql: sql must be one query starting with SELECT or WITH"),
        (("GROUP BY listen_date", "GROUP BY listen_date; SELECT 1"),
         "pipeline.aggregates[0] (daily_listens).sql: sql must be one query: no ';' between statements"),
    ],
)  # fmt: skip
def test_contract_malformed_join_or_aggregate_error_names_file_field_and_problem(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text(STREAMS.replace(*change, 1), encoding="utf-8")

    with pytest.raises(ContractError) as caught:
        load_contract_file(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_contracts_check_join_of_a_malformed_contract_points_at_it(tmp_path: Path) -> None:
    problems = check(
        tmp_path, users=USERS.replace("primaryKey: [user_id]", "primaryKey: [id]"), streams=STREAMS
    )

    assert problems == [
        f"{tmp_path / 'users.yaml'}: schema: primaryKey names unknown fields: id",
        f"{tmp_path / 'streams.yaml'}: pipeline.transform.join[0] (users).dataset: the contract of 'users' is "
        "malformed (see above)",
    ]


def test_contracts_check_join_cycle_is_reported_once(tmp_path: Path) -> None:
    a = "dataset: a\nschema: {fields: [{name: k}, {name: x}]}\npipeline: {transform: {join: [{dataset: b, on: [k], select: [y]}]}}\n"
    b = "dataset: b\nschema: {fields: [{name: k}, {name: y}]}\npipeline: {transform: {join: [{dataset: a, on: [k], select: [x]}]}}\n"

    problems = check(tmp_path, a=a, b=b)

    assert problems == [
        f"{tmp_path / 'a.yaml'}: pipeline.transform.join: join cycle a -> b -> a "
        "(each dataset needs the other's curated table first)"
    ]


def test_contracts_check_gold_table_named_like_a_dataset_or_another_gold_table_is_reported(
    tmp_path: Path,
) -> None:
    clicks = STREAMS.replace("dataset: streams", "dataset: clicks").replace("FROM streams", "FROM clicks")

    problems = check(
        tmp_path, users=USERS, streams=STREAMS.replace("name: daily_listens", "name: users"),
        clicks=clicks.replace("name: daily_listens", "name: daily_clicks"),
        views=clicks.replace("dataset: clicks", "dataset: views").replace("name: daily_listens", "name: daily_clicks"),
    )  # fmt: skip

    assert problems == [
        f"{tmp_path / 'streams.yaml'}: pipeline.aggregates[0] (users).name: a dataset of that name exists; "
        "the gold table would share its table",
        f"{tmp_path / 'views.yaml'}: pipeline.aggregates[0] (daily_clicks).name: clicks already defines a gold "
        "table of that name",
    ]


def test_contract_serving_key_must_be_a_curated_column_after_renames(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(USERS + "pipeline:\n  serving: {pk: [user_id]}\n  transform: {rename: {user_id: id}}\n")

    with pytest.raises(
        ContractError,
        match=r"users\.yaml: pipeline\.serving names columns the curated table does not have: user_id",
    ):
        load_contract_file(path)


def test_contract_curated_columns_follow_joins_renames_derives_and_date_parts() -> None:
    signups = load_contract_file(ROOT / "contracts" / "signups.yaml")
    streams = load_contract_file(ROOT / "contracts" / "streams.yaml")

    assert signups.curated_columns() == [
        "signup_id",
        "full_name",
        "email",
        "signup_date",
        "status",
        "year",
        "month",
    ]
    assert streams.curated_columns() == [
        "user_id", "track_id", "listen_time", "user_name", "user_age", "user_country", "track_name", "artists",
        "album_name", "track_genre", "duration_ms", "popularity", "listen_date",
    ]  # fmt: skip


def test_contract_json_keeps_derive_steps_in_the_order_written() -> None:
    orders = load_contract_file(ROOT / "contracts" / "orders.yaml")

    derive = json.loads(orders.to_json())["pipeline"]["transform"]["derive"]

    assert list(derive) == ["customer_name", "line_total", "_processed_at"]
