"""Serialized DAGs: what the service reads instead of the DAG file must say the same thing.

Every example DAG and a set of tricky ones go through ``serialize_dag`` -> JSON text ->
``SerializedDAG.from_dict`` and come back with the same graph and the same attributes as the
SDK objects; the hash is stable across processes and moves when the DAG does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tradewind.dag_processing.loader import DagBag
from tradewind.operators import BashOperator, EmptyOperator, PythonOperator
from tradewind.sdk import DAG, Label, Param, TaskGroup, setup, task, teardown
from tradewind.sdk.mapping import MappedOperator
from tradewind.serialization.dag_json import (
    SerializedDAG,
    SerializedTaskGroup,
    dag_hash,
    serialize_dag,
)
from tradewind.serialization.schema import FORMAT_VERSION, SerializationError
from tradewind.serialization.values import json_only

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "dags"

TASK_ATTRS = (
    "task_id",
    "trigger_rule",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "pool",
    "pool_slots",
    "priority_weight",
    "weight_rule",
    "queue",
    "depends_on_past",
    "wait_for_downstream",
    "ignore_first_depends_on_past",
    "max_active_tis_per_dag",
    "max_active_tis_per_dagrun",
    "is_setup",
    "is_teardown",
    "on_failure_fail_dagrun",
    "is_branching",
    "is_mapped",
    "upstream_task_ids",
    "downstream_task_ids",
    "doc_md",
    "owner",
    "task_display_name",
    "executor",
    "do_xcom_push",
    "multiple_outputs",
    "map_index_template",
    "label",
)
DAG_ATTRS = (
    "dag_id",
    "fileloc",
    "description",
    "doc_md",
    "tags",
    "timetable",
    "start_date",
    "end_date",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "max_consecutive_failed_dag_runs",
    "dagrun_timeout",
    "fail_fast",
    "is_paused_upon_creation",
    "render_template_as_native_obj",
    "edge_info",
    "task_ids",
    "dag_display_name",
    "template_searchpath",
    "owner_links",
)


def round_trip(dag: DAG) -> SerializedDAG:
    data = serialize_dag(dag)
    assert data["__version"] == FORMAT_VERSION
    # Through real JSON text, as the database stores it.
    return SerializedDAG.from_dict(json.loads(json.dumps(data, allow_nan=False)))


def params_view(params: Any) -> list[tuple[str, Any, bool, Any, Any]]:
    return [
        (name, p.value if p.has_value else None, p.has_value, p.schema, p.description)
        for name, p in params.items_params()
    ]


def lookups() -> list[Any]:
    table = {("up", "return_value"): 4, ("other", "return_value"): 2, ("up", "rows"): 7}
    return [
        lambda task_id, key: None,
        lambda task_id, key: 3,
        lambda task_id, key: 0,
        lambda task_id, key: table.get((task_id, key), 5),
    ]


def assert_same_group(sdk: TaskGroup, ser: SerializedTaskGroup) -> None:
    assert ser.group_id == sdk.group_id
    assert ser.label == sdk.label
    assert ser.prefix_group_id == sdk.prefix_group_id
    assert ser.tooltip == sdk.tooltip
    assert ser.ui_color == sdk.ui_color
    assert list(ser.children) == list(sdk.children)
    for key, child in sdk.children.items():
        if isinstance(child, TaskGroup):
            found = ser.children[key]
            assert isinstance(found, SerializedTaskGroup)
            assert_same_group(child, found)
        else:
            assert ser.children[key].task_id == child.task_id  # type: ignore[union-attr]
    assert [t.task_id for t in ser.iter_tasks()] == [t.task_id for t in sdk.iter_tasks()]
    assert [t.task_id for t in ser.roots] == [t.task_id for t in sdk.roots]


def assert_same(dag: DAG, ser: SerializedDAG) -> None:
    for attr in DAG_ATTRS:
        assert getattr(ser, attr) == getattr(dag, attr), attr
    assert ser.has_on_success_callback == bool(dag.on_success_callback)
    assert ser.has_on_failure_callback == bool(dag.on_failure_callback)
    assert params_view(ser.params) == params_view(dag.params)
    assert [t.task_id for t in ser.roots] == [t.task_id for t in dag.roots]
    assert [t.task_id for t in ser.leaves] == [t.task_id for t in dag.leaves]
    assert [t.task_id for t in ser.topological_sort()] == [
        t.task_id for t in dag.topological_sort()
    ]
    assert_same_group(dag.task_group, ser.task_group)
    for tid, sdk_task in dag.task_dict.items():
        st = ser.task_dict[tid]
        assert st.dag is ser
        for attr in TASK_ATTRS:
            assert getattr(st, attr) == getattr(sdk_task, attr), f"{tid}.{attr}"
        klass = sdk_task.operator_class if isinstance(sdk_task, MappedOperator) else type(sdk_task)
        assert st.operator_name == klass.__name__
        assert st.custom_operator_name == getattr(klass, "custom_operator_name", None)
        assert st.ui_color == klass.ui_color
        assert st.template_fields == tuple(sdk_task.template_fields)
        assert st.executor_config == json_only(getattr(sdk_task, "executor_config", None) or {})
        group = sdk_task.task_group
        assert (st.task_group.group_id if st.task_group else None) == (
            group.group_id if group else None
        )
        assert params_view(st.params) == params_view(sdk_task.params)  # type: ignore[attr-defined]
        if isinstance(sdk_task, MappedOperator):
            feeders = {
                op.task_id
                for ref in sdk_task.expand_input.references()
                for op, _ in ref.iter_references()
            }
            assert st.mapping_feeders == feeders
            for lookup in lookups():
                assert st.get_map_length(lookup) == sdk_task.get_map_length(lookup)


@pytest.fixture(scope="module")
def example_bag() -> DagBag:
    bag = DagBag.from_folder(EXAMPLES)
    assert bag.import_errors == {}
    return bag


def test_every_example_dag_round_trips(example_bag: DagBag) -> None:
    assert len(example_bag.dags) >= 10
    for dag in example_bag.dags.values():
        assert_same(dag, round_trip(dag))


def tricky_groups_and_labels() -> DAG:
    with DAG(
        "tricky_groups",
        schedule="0 9 * * 1-5",
        start_date=datetime(2024, 3, 1, tzinfo=ZoneInfo("Europe/Paris")),
        end_date=datetime(2030, 1, 1),
        tags=["b", "a"],
        description="groups and labels",
        doc_md="# Groups",
        default_args={"retries": 1, "owner": "ops"},
        max_active_runs=2,
        dagrun_timeout=timedelta(hours=1, microseconds=5),
        owner_links={"ops": "https://example.com"},
    ) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("outer", tooltip="the outer box", default_args={"owner": "data"}) as outer:
            with TaskGroup("inner", ui_color="#abcdef") as inner:
                a = EmptyOperator(task_id="a", priority_weight=3, weight_rule="upstream")
                b = BashOperator(task_id="b", bash_command="echo {{ ds }}", pool_slots=2)
                a >> b
            with TaskGroup("flat", prefix_group_id=False):
                c = EmptyOperator(task_id="c", trigger_rule="all_done", queue="q2")
            inner >> Label("then") >> c
        end = EmptyOperator(task_id="end", depends_on_past=True, max_active_tis_per_dag=1)
        start >> Label("go") >> outer >> end
    return dag


def tricky_mapping() -> DAG:
    with DAG("tricky_mapping") as dag:

        @task
        def up() -> list[int]:
            return [1, 2]

        @task
        def other() -> list[int]:
            return [3]

        @task
        def add(x: int, y: int, z: int = 0) -> int:
            return x + y + z

        @task(multiple_outputs=True)
        def rows() -> dict[str, Any]:
            return {"rows": [{"x": 1}]}

        u, o, r = up(), other(), rows()
        add.partial(z=1).expand(x=u, y=[1, 2, 3])
        add.override(task_id="add_map").expand(x=u.map(lambda v: v * 2), y={"a": 1})
        add.override(task_id="add_zip").expand(x=u.zip(o), y=u.zip(o, fillvalue=0))
        add.override(task_id="add_concat").expand(x=u.concat(o, u), y=[0])
        add.override(task_id="add_kwargs").expand_kwargs([{"x": 1, "y": 2}, {"x": o, "y": 3}])
        add.override(task_id="add_kwargs_xcom").expand_kwargs(r["rows"])
        BashOperator.partial(task_id="bash", retries=3, pool="p").expand(
            bash_command=["echo 1", "echo 2"], env=[{"A": "1"}]
        )
    return dag


def tricky_setup_teardown_and_params() -> DAG:
    with DAG(
        "tricky_setup",
        params={
            "n": Param(5, type="integer", minimum=1, description="how many"),
            "name": Param(None, type=["null", "string"]),
            "must": Param(type="string", enum=["a", "b"]),
            "plain": [1, "x"],
        },
        fail_fast=False,
        is_paused_upon_creation=False,
        render_template_as_native_obj=True,
        on_failure_callback=lambda context: None,
        catchup=False,
    ) as dag:

        @setup
        def create() -> str:
            return "res"

        @teardown
        def delete(res: str) -> None:
            return None

        @task(retry_exponential_backoff=1.5, retries=2, max_retry_delay=600)
        def work(res: str) -> None:
            return None

        c = create()
        w = work(c)
        d = delete(c)
        c >> w >> d
        d.operator.on_failure_fail_dagrun = True  # type: ignore[attr-defined]
        PythonOperator(
            task_id="callbacks",
            python_callable=print,
            params={"p": Param(1, type="integer")},
            executor_config={"ok": [1, 2], "pod": object(), "nested": {"f": print, "g": 1.5}},
            on_success_callback=print,
            execution_timeout=timedelta(minutes=3),
            op_kwargs={"when": datetime(2024, 1, 1), "fn": print},
        )
    return dag


@pytest.mark.parametrize(
    "factory", [tricky_groups_and_labels, tricky_mapping, tricky_setup_teardown_and_params]
)
def test_tricky_dags_round_trip(factory: Any) -> None:
    dag = factory()
    assert_same(dag, round_trip(dag))


def test_what_the_service_needs_is_there_without_user_code() -> None:
    ser = round_trip(tricky_setup_teardown_and_params())
    assert ser.has_on_failure_callback and not ser.has_on_success_callback
    cb = ser.task_dict["callbacks"]
    assert cb.has_callback("success") and not cb.has_callback("failure")
    assert cb.executor_config == {"ok": [1, 2], "nested": {"g": 1.5}}
    assert cb.execution_timeout == timedelta(minutes=3)
    assert ser.task_dict["work"].retry_exponential_backoff == 1.5
    assert ser.task_dict["work"].max_retry_delay == timedelta(seconds=600)
    # conf is validated by the service against the DAG's params.
    assert ser.params.resolve({"must": "a"})["n"] == 5
    with pytest.raises(ValueError, match="minimum"):
        ser.params.resolve({"must": "a", "n": 0})
    with pytest.raises(ValueError, match="must"):
        ser.params.resolve({})


def test_mapped_task_lengths_follow_their_inputs() -> None:
    ser = round_trip(tricky_mapping())
    lengths = {("up", "return_value"): 2, ("other", "return_value"): 3}

    def lookup(task_id: str, key: str) -> int | None:
        return lengths.get((task_id, key))

    tasks = ser.task_dict
    assert tasks["add"].get_map_length(lookup) == 6
    assert tasks["add_map"].get_map_length(lookup) == 2
    assert tasks["add_zip"].get_map_length(lookup) == 2 * 3
    assert tasks["add_concat"].get_map_length(lookup) == 7
    assert tasks["add_kwargs"].get_map_length(lookup) == 2
    assert tasks["add_kwargs_xcom"].get_map_length(lookup) is None
    assert tasks["bash"].get_map_length(lookup) == 2
    assert tasks["add"].mapping_feeders == {"up"}
    assert tasks["add_kwargs"].mapping_feeders == {"other"}
    assert tasks["add_kwargs_xcom"].mapping_feeders == {"rows"}
    assert tasks["bash"].mapping_feeders == frozenset()
    with pytest.raises(TypeError, match="not mapped"):
        tasks["up"].get_map_length(lookup)


def test_output_is_plain_json_with_no_object_descriptions_that_vary() -> None:
    for factory in (tricky_groups_and_labels, tricky_mapping, tricky_setup_teardown_and_params):
        text = json.dumps(serialize_dag(factory()), allow_nan=False)
        assert " at 0x" not in text


def test_hash_is_canonical_json_sha256() -> None:
    import hashlib

    data = serialize_dag(tricky_mapping())
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert dag_hash(data) == hashlib.sha256(text.encode()).hexdigest()
    shuffled = dict(reversed(list(data.items())))
    assert dag_hash(shuffled) == dag_hash(data)


HASH_SCRIPT = """
import json, sys
from tradewind.dag_processing.loader import DagBag
from tradewind.serialization.dag_json import dag_hash, serialize_dag
bag = DagBag.from_folder(sys.argv[1])
print(json.dumps({d: dag_hash(serialize_dag(dag)) for d, dag in bag.dags.items()}))
"""


def test_hash_is_stable_across_processes(example_bag: DagBag) -> None:
    here = {d: dag_hash(serialize_dag(dag)) for d, dag in example_bag.dags.items()}
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", HASH_SCRIPT, str(EXAMPLES)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == here


def _variant(**changes: Any) -> str:
    options: dict[str, Any] = {
        "retries": 0,
        "command": "echo 1",
        "label": "x",
        "schedule": "@daily",
        "extra": False,
    }
    options.update(changes)
    with DAG("variant", schedule=options["schedule"], start_date=datetime(2024, 1, 1)) as dag:
        a = BashOperator(task_id="a", bash_command=options["command"], retries=options["retries"])
        b = EmptyOperator(task_id="b")
        a >> Label(options["label"]) >> b
        if options["extra"]:
            b >> EmptyOperator(task_id="c")
    return dag_hash(serialize_dag(dag))


def test_hash_changes_when_the_dag_changes() -> None:
    base = _variant()
    assert _variant() == base
    changed = [
        _variant(retries=1),
        _variant(command="echo 2"),
        _variant(label="y"),
        _variant(schedule="@hourly"),
        _variant(extra=True),
    ]
    assert base not in changed
    assert len(set(changed)) == len(changed)


def test_an_unknown_version_or_malformed_data_is_refused() -> None:
    data = serialize_dag(tricky_mapping())
    with pytest.raises(SerializationError, match="version"):
        SerializedDAG.from_dict({**data, "__version": 99})
    broken = json.loads(json.dumps(data))
    del broken["dag"]["tasks"][0]["retries"]
    with pytest.raises(SerializationError, match="malformed"):
        SerializedDAG.from_dict(broken)


def test_a_timetable_that_is_not_json_is_a_serialization_error() -> None:
    from tradewind.timetables import NullTimetable

    class Odd(NullTimetable):
        def serialize(self) -> dict[str, Any]:
            return {"type": "Odd", "when": datetime.now(UTC)}

    with DAG("odd", schedule=Odd()) as dag:
        EmptyOperator(task_id="a")
    with pytest.raises(SerializationError, match="'odd' cannot be serialized"):
        serialize_dag(dag)
