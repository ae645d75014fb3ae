"""The serialized-DAG contract: the JSON the DAG processor writes and everyone else reads.

The DAG processor imports DAG files (user code) and stores each DAG as this JSON in the
``serialized_dag`` table. The scheduler, the API and the CLI read it back with
:meth:`tradewind.serialization.dag_json.SerializedDAG.from_dict` and never import user code
(see DESIGN.md). The JSON holds plain JSON types only, no pickle; anything that is not
JSON (callables, objects) is dropped or replaced by a deterministic description, so the same
DAG always serializes to the same bytes and :func:`~tradewind.serialization.dag_json.dag_hash`
identifies a version.

Version 1 (``FORMAT_VERSION``)::

    {
      "__version": 1,
      "dag": {
        "dag_id": str, "fileloc": str | null, "description": str | null,
        "doc_md": str | null, "dag_display_name": str, "tags": [str, ...] (sorted),
        "access_control": {role: {resource: [action, ...]}},  # absent in older versions
        "owner_links": {str: str}, "template_searchpath": [str, ...],
        "timetable": {"type": str, "summary": str, ...}   # Timetable.serialize(); a custom
            # class: {"type": "pkg.mod.Class", "summary", "description", "data": {...}}
        "start_date": ISO 8601 | null, "end_date": ISO 8601 | null,
        "catchup": bool, "max_active_runs": int, "max_active_tasks": int,
        "max_consecutive_failed_dag_runs": int, "dagrun_timeout": seconds | null,
        "fail_fast": bool, "is_paused_upon_creation": bool | null,
        "render_template_as_native_obj": bool,
        "has_on_success_callback": bool, "has_on_failure_callback": bool,
        "params": PARAMS,
        "edge_info": {upstream_id: {downstream_id: {"label": str}}},
        "task_group": GROUP,                  # the root group (group_id null)
        "tasks": [TASK, ...]                   # in definition order
      }
    }

    PARAMS = [[name, {"description": str | null, "schema": {...}, "default"?: value}], ...]
             # no "default" key: the param has no default value
    GROUP  = {"group_id": str | null, "label": str | null, "prefix_group_id": bool,
              "tooltip": str, "ui_color": str, "ui_fgcolor": str,
              "children": [{"task": task_id} | {"group": GROUP}, ...],
              # mapped task groups only (every task inside gets a copy per element):
              "expand_input": EXPAND, "mapping_feeders": [task_id, ...] (sorted)}
    TASK   = {"task_id", "operator_name" (class name), "operator_module",
              "custom_operator_name", "task_group_id", "trigger_rule", "retries",
              "retry_delay" (seconds), "retry_exponential_backoff" (bool or multiplier),
              "max_retry_delay", "execution_timeout" (seconds or null), "pool", "pool_slots",
              "priority_weight", "weight_rule", "queue", "depends_on_past",
              "wait_for_downstream", "ignore_first_depends_on_past",
              "max_active_tis_per_dag", "max_active_tis_per_dagrun", "is_setup",
              "is_teardown", "on_failure_fail_dagrun", "is_branching", "is_mapped",
              "do_xcom_push", "multiple_outputs", "upstream_task_ids" (sorted),
              "downstream_task_ids" (sorted), "template_fields", "template_ext",
              "template_fields_digest" (sha256 of the fields' described values, so a changed
              command makes a new version without storing values that may be secret),
              "doc_md", "owner", "task_display_name", "executor", "executor_config" (its
              JSON parts only), "ui_color", "ui_fgcolor", "start_date", "end_date",
              "map_index_template", "params": PARAMS,
              "has_on_execute_callback", "has_on_failure_callback",
              "has_on_success_callback", "has_on_retry_callback",
              "has_on_skipped_callback",
              "start_from_trigger": {"trigger_cls", "trigger_kwargs" (codec text),
                  "next_method", "next_kwargs" (codec text), "timeout" (seconds or null)}
                  | null,                    # absent in versions stored before it
              # mapped tasks only:
              "expand_input": EXPAND, "mapping_feeders": [task_id, ...] (sorted)}
    EXPAND = {"type": "dict_of_lists", "value": {argument: ARG}}
           | {"type": "list_of_dicts", "value": ARG}
    ARG    = {"literal": length}               # a list or dict given in the DAG file
           | {"xcom": {"task_id": str, "key": str}}
           | {"map": ARG}                      # arg.map(fn): same length
           | {"zip": [ARG, ...], "fillvalue": bool}   # min length, max with a fillvalue
           | {"concat": [ARG, ...]}            # sum of lengths

Times are ISO 8601 with their UTC offset; durations are seconds (a JSON number). A reader
refuses a ``__version`` it does not know rather than guess.
"""

from __future__ import annotations

from typing import Any

from tradewind.exceptions import TradewindException

#: The ``__version`` this code writes and reads.
FORMAT_VERSION = 1

#: A JSON object, as serialized.
JsonDict = dict[str, Any]


class SerializationError(TradewindException):
    """A DAG cannot be serialized, or stored data is not a serialized DAG this code reads."""
