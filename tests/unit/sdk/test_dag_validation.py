"""Broken DAGs fail where they are defined, with a message that says what to fix."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tradewind.exceptions import (
    DagCycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    ParamValidationError,
)
from tradewind.operators import BashOperator, EmptyOperator
from tradewind.sdk import DAG, Param, TaskGroup, chain, dag, task


def test_a_cycle_fails_when_the_dag_block_ends_naming_the_tasks_in_it() -> None:
    with (
        pytest.raises(DagCycleError, match=r"DAG 'cyclic' has a cycle: a >> b >> c >> a"),
        DAG("cyclic"),
    ):
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        a >> b >> c >> a


def test_the_cycle_message_leaves_out_tasks_that_are_not_in_the_cycle() -> None:
    with pytest.raises(DagCycleError) as err, DAG("tail"):
        start, x, y, end = (EmptyOperator(task_id=n) for n in ("start", "x", "y", "end"))
        start >> x >> y >> end
        y >> x
    assert str(err.value) == "DAG 'tail' has a cycle: x >> y >> x"


def test_a_cycle_at_the_end_of_a_very_long_chain_is_still_described() -> None:
    with pytest.raises(DagCycleError) as err, DAG("long"):
        tasks = [EmptyOperator(task_id=f"t{i:04d}") for i in range(3000)]
        chain(*tasks)
        tasks[-1] >> tasks[-2]
    assert str(err.value) == "DAG 'long' has a cycle: t2998 >> t2999 >> t2998"


def test_a_cycle_in_a_decorated_dag_fails_when_the_factory_is_called() -> None:
    @dag
    def loop() -> None:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b >> a

    with pytest.raises(DagCycleError, match="a >> b >> a"):
        loop()


def test_a_cycle_through_task_groups_names_the_prefixed_ids() -> None:
    with pytest.raises(DagCycleError, match=r"g\.a >> g\.b >> g\.a"), DAG("grp_cycle"):
        with TaskGroup("g"):
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
        a >> b >> a


def test_a_task_cannot_depend_on_itself() -> None:
    with pytest.raises(DagDefinitionError, match="'a' cannot depend on itself"), DAG("loop"):
        a = EmptyOperator(task_id="a")
        a >> a


def test_a_duplicate_task_id_fails_at_once() -> None:
    with (
        pytest.raises(DuplicateTaskIdError, match="task id 'load' has already been added"),
        DAG("dupes"),
    ):
        EmptyOperator(task_id="load")
        EmptyOperator(task_id="load")


def test_the_same_id_in_different_task_groups_is_not_a_duplicate() -> None:
    with DAG("no_dupes") as d:
        for name in ("g1", "g2"):
            with TaskGroup(name):
                EmptyOperator(task_id="load")
    assert d.task_ids == ["g1.load", "g2.load"]


def test_a_duplicate_group_id_fails() -> None:
    with (
        pytest.raises(DagDefinitionError, match="group id 'g' has already been added"),
        DAG("dup_groups"),
    ):
        TaskGroup("g")
        TaskGroup("g")


def test_a_group_cannot_take_the_id_of_a_task() -> None:
    with (
        pytest.raises(DagDefinitionError, match="group id 'load' has already been added"),
        DAG("group_vs_task"),
    ):
        EmptyOperator(task_id="load")
        TaskGroup("load")


def test_a_task_cannot_take_the_id_of_a_group() -> None:
    with (
        pytest.raises(DuplicateTaskIdError, match=r"task id 'load' .* as a group id"),
        DAG("task_vs_group"),
    ):
        TaskGroup("load")
        EmptyOperator(task_id="load")


def test_a_taskflow_task_named_like_a_group_gets_a_suffix() -> None:
    with DAG("taskflow_vs_group") as d:
        TaskGroup("load")

        @task
        def load() -> None:
            pass

        load()
    assert d.task_ids == ["load__1"]


def test_an_unknown_trigger_rule_names_the_valid_ones() -> None:
    with pytest.raises(DagDefinitionError) as err, DAG("bad_rule"):
        EmptyOperator(task_id="t", trigger_rule="all_succes")
    message = str(err.value)
    assert "task 't': unknown trigger_rule 'all_succes'" in message
    for valid in ("all_success", "none_failed_min_one_success", "always", "all_skipped"):
        assert valid in message


def test_an_unknown_weight_rule_names_the_valid_ones() -> None:
    with pytest.raises(DagDefinitionError, match="downstream, upstream, absolute"):
        EmptyOperator(task_id="t", weight_rule="sideways")


@pytest.mark.parametrize("cron", ["not a cron", "61 * * * *", "* * *", "0 0 32 * *", ""])
def test_an_invalid_cron_expression_fails_with_the_expected_form(cron: str) -> None:
    with pytest.raises(DagDefinitionError) as err:
        DAG("bad_cron", schedule=cron)
    assert str(err.value).startswith(f"DAG 'bad_cron': invalid cron expression {cron!r}")
    assert "minute hour day-of-month month day-of-week" in str(err.value)


def test_an_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(DagDefinitionError) as err:
        DAG("bad_preset", schedule="@fortnightly")
    message = str(err.value)
    assert "unknown schedule preset '@fortnightly'" in message
    for preset in ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@yearly"):
        assert preset in message


def test_a_schedule_of_the_wrong_type_says_what_is_accepted() -> None:
    with pytest.raises(DagDefinitionError, match="schedule must be None, a cron string"):
        DAG("bad_type", schedule=5)


def test_continuous_schedules_allow_one_active_run() -> None:
    with pytest.raises(DagDefinitionError, match="set max_active_runs=1"):
        DAG("cont", schedule="@continuous")
    assert DAG("cont_ok", schedule="@continuous", max_active_runs=1).max_active_runs == 1


def test_catchup_needs_a_start_date() -> None:
    with pytest.raises(DagDefinitionError, match="start_date is required when catchup=True"):
        DAG("catchup", schedule="@daily", catchup=True)
    DAG("catchup_ok", schedule="@daily", catchup=True, start_date=datetime(2024, 1, 1))
    DAG("catchup_manual", schedule=None, catchup=True)


def test_a_param_default_that_is_not_json_fails_naming_the_param() -> None:
    with pytest.raises(DagDefinitionError) as err:
        DAG("bad_param", params={"when": datetime(2024, 1, 1)})
    message = str(err.value)
    assert message.startswith("DAG 'bad_param': ")
    assert "'when'" in message
    assert "not JSON serializable" in message


def test_a_param_object_with_a_non_json_default_fails_when_created() -> None:
    with pytest.raises(ParamValidationError, match=r"datetime.*is not JSON serializable"):
        Param(datetime(2024, 1, 1))


def test_a_scheduled_dag_needs_valid_defaults_for_every_param() -> None:
    with pytest.raises(DagDefinitionError) as err:
        DAG("sched_params", schedule="@daily", params={"n": Param(0, type="integer", minimum=1)})
    message = str(err.value)
    assert "not allowed to define a schedule" in message
    assert "Invalid input for param n: 0 is less than the minimum of 1" in message
    with pytest.raises(DagDefinitionError, match="No value passed"):
        DAG("sched_required", schedule="@daily", params={"region": Param(type="string")})


def test_a_manually_triggered_dag_may_require_a_value_for_a_param() -> None:
    # As in Airflow: the person triggering the DAG must give ``region``.
    d = DAG("manual_params", schedule=None, params={"region": Param(None, type="string")})
    with pytest.raises(ParamValidationError, match="None is not of type 'string'"):
        d.params.resolve()
    assert d.params.resolve({"region": "eu"}) == {"region": "eu"}


@pytest.mark.parametrize("dag_id", ["has space", "a/b", "", "x" * 251, "semi;colon", "é"])
def test_invalid_dag_ids_are_rejected(dag_id: str) -> None:
    with pytest.raises(DagDefinitionError, match="invalid dag_id"):
        DAG(dag_id)


@pytest.mark.parametrize("task_id", ["has space", "a/b", "", "../up", "new\nline"])
def test_invalid_task_ids_are_rejected(task_id: str) -> None:
    with pytest.raises(DagDefinitionError, match="invalid task_id"), DAG("ids"):
        EmptyOperator(task_id=task_id)


def test_valid_ids_may_use_letters_digits_dots_dashes_and_underscores() -> None:
    with DAG("Ok-dag_1.0") as d:
        EmptyOperator(task_id="Task-1_a.b")
    assert d.task_ids == ["Task-1_a.b"]


def test_an_invalid_group_id_is_rejected() -> None:
    with pytest.raises(DagDefinitionError, match="invalid group_id 'my group'"), DAG("gid"):
        TaskGroup("my group")


def test_an_operator_given_an_unknown_argument_names_it() -> None:
    with pytest.raises(TypeError) as err, DAG("unknown_kw"):
        BashOperator(task_id="b", bash_command="echo", bash_comand="typo")
    assert "BashOperator (task_id: b)" in str(err.value)
    assert "['bash_comand']" in str(err.value)


def test_an_operator_given_positional_arguments_fails() -> None:
    with pytest.raises(TypeError, match="keyword arguments only"):
        EmptyOperator("t")  # type: ignore[misc]


def test_negative_retries_are_rejected() -> None:
    with (
        pytest.raises(DagDefinitionError, match="task 't': retries must be >= 0, got -1"),
        DAG("neg"),
    ):
        EmptyOperator(task_id="t", retries=-1)


def test_non_numeric_retries_are_rejected() -> None:
    with pytest.raises(DagDefinitionError, match="retries must be an integer"):
        EmptyOperator(task_id="t", retries="many")  # type: ignore[arg-type]


def test_retry_delay_in_seconds_becomes_a_timedelta_and_other_types_fail() -> None:
    t = EmptyOperator(task_id="t", retry_delay=30, max_retry_delay=600.0)
    assert t.retry_delay.total_seconds() == 30
    assert t.max_retry_delay is not None and t.max_retry_delay.total_seconds() == 600
    with pytest.raises(DagDefinitionError, match="retry_delay must be a timedelta or seconds"):
        EmptyOperator(task_id="u", retry_delay="5m")


def test_retry_exponential_backoff_keeps_a_multiplier() -> None:
    assert EmptyOperator(task_id="a", retry_exponential_backoff=True).retry_exponential_backoff
    assert EmptyOperator(task_id="b", retry_exponential_backoff=3).retry_exponential_backoff == 3.0
    assert EmptyOperator(task_id="c").retry_exponential_backoff is False
    with pytest.raises(DagDefinitionError, match="retry_exponential_backoff must be a bool"):
        EmptyOperator(task_id="d", retry_exponential_backoff=-1)


def test_execution_timeout_must_be_a_timedelta() -> None:
    with pytest.raises(DagDefinitionError, match="execution_timeout must be a timedelta"):
        EmptyOperator(task_id="t", execution_timeout=30)  # type: ignore[arg-type]


def test_pool_slots_below_one_are_rejected() -> None:
    with pytest.raises(DagDefinitionError, match="pool_slots must be >= 1"):
        EmptyOperator(task_id="t", pool_slots=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_active_runs": 0}, "max_active_runs and max_active_tasks must be >= 1"),
        ({"start_date": "2024-01-01"}, "start_date must be a datetime, got str"),
        ({"dagrun_timeout": 60}, "dagrun_timeout must be a timedelta"),
    ],
)
def test_bad_dag_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        DAG("bad_args", **kwargs)


def test_a_failing_dag_block_does_not_leave_the_dag_current() -> None:
    from tradewind.sdk.dag import DagContext

    with pytest.raises(DuplicateTaskIdError), DAG("broken"):
        EmptyOperator(task_id="t")
        EmptyOperator(task_id="t")
    assert DagContext.current() is None
    assert EmptyOperator(task_id="free").dag is None


def test_linking_tasks_of_different_dags_fails() -> None:
    with DAG("one"):
        a = EmptyOperator(task_id="a")
    with DAG("two"):
        b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError, match="tasks belong to different DAGs"):
        a >> b


def test_calling_a_taskflow_function_badly_fails_at_definition() -> None:
    with (
        pytest.raises(TypeError, match=r"add\(\): missing required argument 'y'"),
        DAG("bad_call"),
    ):

        @task
        def add(x: int, y: int) -> int:
            return x + y

        add(1)


def test_work_right_after_a_setup_must_use_all_success() -> None:
    from tradewind.operators import EmptyOperator

    with (
        pytest.raises(DagDefinitionError, match=r"follows setup task 'create'.*all_success"),
        DAG("setup_rule"),
    ):
        create = EmptyOperator(task_id="create").as_setup()
        create >> EmptyOperator(task_id="work", trigger_rule="all_done")


def test_a_fail_fast_dag_refuses_other_trigger_rules() -> None:
    from tradewind.operators import EmptyOperator

    with (
        pytest.raises(DagDefinitionError, match=r"fail_fast=True.*'join'"),
        DAG("fast", fail_fast=True),
    ):
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="join", trigger_rule="all_done")
