"""A Bash command taken from the run's configuration, with a default.

``run_command`` runs ``dag_run.conf["cmd"]`` when the run was triggered with one
(``--conf '{"cmd": "date"}'``) and ``echo hello`` otherwise. Anyone who may trigger
this DAG can then run any shell command as the worker: do this only for trusted users.

``greet`` shows the safer way to get run input into a shell: the value (a validated
param, which conf may override) goes in through an environment variable, so it is
data to the shell, never code. The last line a Bash task prints is its XCom.
"""

from datetime import datetime

from tradewind.operators import BashOperator
from tradewind.sdk import DAG, Param

with DAG(
    "example_bash_conf",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={"name": Param("world", type="string", maxLength=50)},
    tags=["example"],
) as dag:
    run_command = BashOperator(
        task_id="run_command",
        bash_command="{{ dag_run.conf.get('cmd', 'echo hello') }}",
    )
    greet = BashOperator(
        task_id="greet",
        bash_command='echo "hi, $NAME"',
        env={"NAME": "{{ params.name }}"},
        append_env=True,
    )

    run_command >> greet
