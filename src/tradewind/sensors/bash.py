"""``BashSensor``: poke by running a shell command; exit code 0 means the wait is over.

Many "is it ready yet?" checks already exist as a shell one-liner (``test -s``, ``curl -f``,
``hdfs dfs -test``), so this sensor runs one per poke, as Airflow's does: the command is
written to a script in a fresh temporary folder, which is also its working folder, and run
with ``bash``; its output goes to the task log. Exit code 0 ends the wait. Without
``retry_exit_code`` any other code means "not yet"; with it, only that code means "not yet"
and any other fails the task without retry (or skips it with ``soft_fail``).
"""

from __future__ import annotations

import codecs
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from tradewind.exceptions import DagDefinitionError, TradewindException, TradewindFailException
from tradewind.sensors.base import BaseSensorOperator


def _is_xcom_arg(value: Any) -> bool:
    from tradewind.sdk.xcom_arg import XComArg

    return isinstance(value, XComArg)


class BashSensor(BaseSensorOperator):
    """Pokes by running ``bash_command`` (templated); done when it exits with code 0.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_bash_sensor") as d:
    ...     BashSensor(task_id="wait_for_marker", bash_command="test -e /data/{{ ds }}/_SUCCESS")
    <Task(BashSensor): wait_for_marker>
    """

    template_fields: Sequence[str] = ("bash_command", "env")
    template_fields_renderers = {"bash_command": "bash", "env": "json"}

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        task = self.task_id
        if not _is_xcom_arg(bash_command) and not (
            isinstance(bash_command, str) and bash_command.strip()
        ):
            raise DagDefinitionError(
                f"task {task!r}: bash_command must be a non-empty string, got {bash_command!r}"
            )
        if env is not None and not isinstance(env, Mapping) and not _is_xcom_arg(env):
            raise DagDefinitionError(
                f"task {task!r}: env must be a dict of names to values, got {type(env).__name__}"
            )
        try:
            codecs.lookup(output_encoding)
        except (LookupError, TypeError):
            raise DagDefinitionError(
                f"task {task!r}: output_encoding {output_encoding!r} is not a known encoding"
            ) from None
        if retry_exit_code is not None and (
            isinstance(retry_exit_code, bool) or not isinstance(retry_exit_code, int)
        ):
            raise DagDefinitionError(
                f"task {task!r}: retry_exit_code must be an int or None, got {retry_exit_code!r}"
            )
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code
        self._process: subprocess.Popen[bytes] | None = None
        from tradewind.sdk.xcom_arg import set_dependencies_from_args

        set_dependencies_from_args(self, bash_command, env)

    def _environment(self) -> dict[str, str] | None:
        """``env`` as given, or ``None`` to inherit this process's environment (Airflow
        adds nothing else for a sensor, unlike ``BashOperator``)."""
        if self.env is None:
            return None
        if not isinstance(self.env, Mapping):
            raise TradewindException(
                f"task {self.task_id!r}: env must be a dict, got {type(self.env).__name__}"
            )
        return {str(k): str(v) for k, v in self.env.items()}

    def poke(self, context: Any) -> bool:
        command = self.bash_command
        if not isinstance(command, str):
            raise TradewindException(
                f"task {self.task_id!r}: bash_command must render to a string, got {command!r}"
            )
        with tempfile.TemporaryDirectory(prefix="tradewindtmp") as folder:
            script = os.path.join(folder, "command.sh")
            with open(script, "wb") as fh:
                fh.write(command.encode("utf-8"))
            self.log.info("Running command: %s", command)
            code = self._run(script, folder)
        self.log.info("Command exited with return code %s", code)
        if code == 0:
            return True
        if self.retry_exit_code is None:
            self.log.info("Non-zero return code and no retry code set, will retry later")
            return False
        if code == self.retry_exit_code:
            self.log.info("Return code matches retry code, will retry later")
            return False
        raise TradewindFailException(f"Command exited with return code {code}")

    def _run(self, script: str, folder: str) -> int:
        process = subprocess.Popen(
            ["bash", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=self._environment(),
            # Its own process group, so stopping the task stops everything the command
            # started, not just bash.
            start_new_session=True,
        )
        self._process = process
        assert process.stdout is not None
        try:
            for raw in iter(process.stdout.readline, b""):
                self.log.info("%s", raw.decode(self.output_encoding, "backslashreplace").rstrip())
            return process.wait()
        finally:
            if process.poll() is None:
                self.on_kill()
            process.stdout.close()
            self._process = None

    def on_kill(self) -> None:
        # Imported here: tradewind.operators imports the SDK, which imports the sensors.
        from tradewind.operators.bash import stop_process_group

        stop_process_group(self._process)
