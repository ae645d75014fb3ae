"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid and not, as Admin: none may answer 5xx, and
every answer must be a documented status code with the documented body.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from api_server import ApiTestEnv

#: Generated requests per operation (x2 databases).
EXAMPLES = 12
#: No 5xx; every status code, content type and body as documented. (Not "every schema-valid
#: request is accepted": the API refuses some on rules across fields, as Airflow does, such as
#: an unknown order_by name or a made-up log continuation token.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


FUZZED_DAG = """
from datetime import datetime
from tradewind.sdk import DAG, task

with DAG("fuzzed", start_date=datetime(2024, 1, 1), schedule=None, params={"n": 1}):
    @task
    def one() -> int:
        return 1

    one()
"""


def test_no_server_error_and_every_answer_matches_the_schema(
    api: ApiTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    # As a deployment has one (the API server refuses to start without it).
    monkeypatch.setenv("TRADEWIND__CORE__FERNET_KEY", Fernet.generate_key().decode())
    api.add_dag_file("fuzzed.py", FUZZED_DAG)
    headers = {"Authorization": f"Bearer {api.token('admin')}"}
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json", headers=headers)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 120  # every route, v2 and v1
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(base_url=api.base_url, headers=headers, checks=CHECKS)

        try:
            fuzz()
        except Exception as err:  # collect every operation's failure, then report them all
            failures[operation.label] = str(err)[:2000]
    assert failures == {}
