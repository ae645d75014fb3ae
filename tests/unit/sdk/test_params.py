"""Params: JSON-schema validated run inputs, overridden by ``dag_run.conf``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tradewind.exceptions import ParamValidationError
from tradewind.sdk import DAG, Param, ParamsDict


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ({"type": "integer", "minimum": 1}, 0, "0 is less than the minimum of 1"),
        ({"type": "integer", "maximum": 5}, 6, "6 is greater than the maximum of 5"),
        ({"type": "integer"}, "abc", "'abc' is not of type 'integer'"),
        ({"enum": ["a", "b"]}, "z", "'z' is not one of ['a', 'b']"),
        ({"type": "string", "minLength": 3}, "ab", "'ab' is too short"),
        ({"type": "string", "pattern": "^[a-z]+$"}, "A1", "'A1' does not match '^[a-z]+$'"),
        ({"type": "string"}, None, "None is not of type 'string'"),
        ({"type": "array", "items": {"type": "integer"}}, [1, "x"], "'x' is not of type"),
        ({"type": "object", "required": ["k"]}, {}, "'k' is a required property"),
        ({"type": "string", "format": "date"}, "2024-13-45", "is not a 'date'"),
    ],
)
def test_a_value_breaking_a_schema_keyword_is_rejected_with_jsonschemas_message(
    schema: dict[str, Any], value: Any, message: str
) -> None:
    param = Param(**schema)
    with pytest.raises(ParamValidationError) as err:
        param.resolve(value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "integer", "minimum": 1}, 1),
        ({"type": ["null", "string"]}, None),
        ({"enum": ["a", "b"]}, "b"),
        ({"type": "string", "format": "date"}, "2024-02-29"),
        ({"type": "number"}, 1.5),
        ({}, {"anything": [1, None]}),
    ],
)
def test_a_value_meeting_the_schema_is_returned(schema: dict[str, Any], value: Any) -> None:
    assert Param(**schema).resolve(value) == value


def test_resolve_without_a_value_uses_the_default() -> None:
    assert Param(5, type="integer").resolve() == 5


def test_resolve_without_a_value_or_default_fails() -> None:
    with pytest.raises(ParamValidationError, match="No value passed and Param has no default"):
        Param(type="integer").resolve()


def test_a_whole_schema_can_be_given_as_schema() -> None:
    param = Param(5, schema={"type": "integer", "minimum": 10})
    assert param.schema == {"type": "integer", "minimum": 10}
    with pytest.raises(ParamValidationError, match="5 is less than the minimum of 10"):
        param.resolve()
    assert param.resolve(11) == 11


def test_schema_and_schema_keywords_together_are_rejected() -> None:
    with pytest.raises(ParamValidationError, match=r"either as schema=.*or as keywords"):
        Param(1, schema={"type": "integer"}, minimum=0)


def test_an_invalid_schema_is_rejected_when_the_param_is_made() -> None:
    with pytest.raises(ParamValidationError, match="invalid schema"):
        Param(1, type="integr")


def test_a_default_need_not_meet_the_schema_until_a_run_uses_it() -> None:
    param = Param(None, type="string")
    assert param.value is None
    with pytest.raises(ParamValidationError, match="None is not of type 'string'"):
        param.resolve()
    assert param.resolve("x") == "x"


def test_a_default_must_be_json() -> None:
    with pytest.raises(ParamValidationError, match="is not JSON serializable"):
        Param({1, 2})
    with pytest.raises(ParamValidationError, match="is not JSON serializable"):
        Param(object())


def test_a_value_must_be_json() -> None:
    with pytest.raises(ParamValidationError, match="is not JSON serializable"):
        Param(1).resolve({1, 2})


def test_description_is_not_part_of_the_schema() -> None:
    param = Param(1, description="how many", type="integer")
    assert param.description == "how many"
    assert param.schema == {"type": "integer"}
    assert param.dump() == {"value": 1, "description": "how many", "schema": {"type": "integer"}}


def test_resolving_does_not_change_the_param() -> None:
    param = Param(1, type="integer")
    param.resolve(7)
    assert param.value == 1


# -- ParamsDict ---------------------------------------------------------------------------


def test_plain_values_become_params_without_a_schema() -> None:
    params = ParamsDict({"a": 1, "b": Param(2, type="integer")})
    assert params["a"] == 1
    assert params.get_param("a").schema == {}
    assert params.get_param("b").schema == {"type": "integer"}
    assert dict(params) == {"a": 1, "b": 2}
    assert len(params) == 2 and "a" in params


def test_resolve_returns_plain_values() -> None:
    params = ParamsDict({"n": Param(5, type="integer"), "s": "x"})
    assert params.resolve() == {"n": 5, "s": "x"}


def test_conf_overrides_params() -> None:
    params = ParamsDict({"n": Param(5, type="integer"), "s": "x"})
    assert params.resolve({"n": 7}) == {"n": 7, "s": "x"}


def test_conf_is_checked_against_the_params_schema() -> None:
    params = ParamsDict({"n": Param(5, type="integer", minimum=1)})
    with pytest.raises(ParamValidationError) as err:
        params.resolve({"n": 0})
    assert str(err.value) == "Invalid input for param n: 0 is less than the minimum of 1"


def test_every_invalid_param_is_reported_at_once() -> None:
    params = ParamsDict({"n": Param(5, type="integer"), "m": Param(type="string")})
    with pytest.raises(ParamValidationError) as err:
        params.resolve({"n": "x"})
    message = str(err.value)
    assert "Invalid input for param n: 'x' is not of type 'integer'" in message
    assert "Invalid input for param m: No value passed" in message


def test_unknown_conf_keys_pass_through() -> None:
    params = ParamsDict({"n": 1})
    assert params.resolve({"extra": {"deep": [1]}, "n": 2}) == {"n": 2, "extra": {"deep": [1]}}


def test_resolve_does_not_change_the_params_or_the_conf() -> None:
    params = ParamsDict({"n": 1})
    conf = {"n": 2, "other": 3}
    params.resolve(conf)
    assert conf == {"n": 2, "other": 3}
    assert params["n"] == 1


def test_setting_a_plain_value_on_an_existing_param_keeps_and_checks_its_schema() -> None:
    params = ParamsDict({"n": Param(5, type="integer", minimum=1)})
    params["n"] = 3
    assert params["n"] == 3
    assert params.get_param("n").schema == {"type": "integer", "minimum": 1}
    with pytest.raises(ParamValidationError) as err:
        params["n"] = 0
    assert str(err.value) == "Invalid input for param n: 0 is less than the minimum of 1"
    assert params["n"] == 3


def test_setting_a_param_object_replaces_the_entry() -> None:
    params = ParamsDict({"n": Param(5, type="integer")})
    params["n"] = Param("x", type="string")
    assert params.get_param("n").schema == {"type": "string"}


def test_a_param_without_a_default_reads_as_none() -> None:
    params = ParamsDict({"need": Param(type="string")})
    assert params["need"] is None
    assert params.get_param("need").has_value is False


def test_deep_copies_are_independent() -> None:
    params = ParamsDict({"l": [1]})
    clone = copy.deepcopy(params)
    clone["l"].append(2)
    assert params["l"] == [1]


def test_dag_params_resolve_with_the_runs_conf() -> None:
    d = DAG("params_dag", params={"n": Param(1, type="integer", minimum=1), "s": "x"})
    assert d.params.resolve({"n": 3, "extra": True}) == {"n": 3, "s": "x", "extra": True}
    with pytest.raises(ParamValidationError, match="Invalid input for param n: 0 is less"):
        d.params.resolve({"n": 0})


def test_task_params_are_a_params_dict() -> None:
    from tradewind.operators import EmptyOperator

    t = EmptyOperator(task_id="t", params={"p": Param(1, type="integer")})
    assert isinstance(t.params, ParamsDict)
    assert t.params.resolve() == {"p": 1}


def test_default_args_params_merge_under_a_tasks_own_params() -> None:
    from tradewind.operators import EmptyOperator
    from tradewind.sdk import TaskGroup

    with DAG("task_params"), TaskGroup("g", default_args={"params": {"a": 1, "b": 1}}):
        t = EmptyOperator(task_id="t", params={"b": 2})
    assert dict(t.params) == {"a": 1, "b": 2}
