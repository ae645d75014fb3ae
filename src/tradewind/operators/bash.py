"""``BashOperator`` and ``@task.bash``: run a shell command; its last output line is the XCom.

A command ending in ``.sh`` or ``.bash`` is a template file, rendered and run. Exit code 0
succeeds; ``skip_on_exit_code`` (99 by default) skips; anything else fails the try.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from tradewind.exceptions import TradewindException, TradewindSkipException
from tradewind.sdk.baseoperator import BaseOperator


class BashOperator(BaseOperator):
    """Runs ``bash_command`` with ``bash -c``.

    >>> from tradewind.sdk import DAG
    >>> with DAG("doc_bash") as d:
    ...     BashOperator(task_id="greet", bash_command="echo hello {{ ds }}")
    <Task(BashOperator): greet>
    """

    template_fields: Sequence[str] = ("bash_command", "env", "cwd")
    template_fields_renderers = {"bash_command": "bash", "env": "json"}
    template_ext: Sequence[str] = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Sequence[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] = lambda output: output,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        if skip_on_exit_code is None:
            self.skip_on_exit_code: list[int] = []
        elif isinstance(skip_on_exit_code, int):
            self.skip_on_exit_code = [skip_on_exit_code]
        else:
            self.skip_on_exit_code = list(skip_on_exit_code)
        self.cwd = cwd
        self.output_processor = output_processor
        self._process: subprocess.Popen[bytes] | None = None
        from tradewind.sdk.xcom_arg import set_dependencies_from_args

        set_dependencies_from_args(self, bash_command, env)

    def _environment(self, context: Any) -> dict[str, str]:
        """The command's environment: ``env`` (on top of this process's with ``append_env``,
        or this process's when ``env`` is None), plus the task's identity as
        ``TRADEWIND_CTX_*`` and, for scripts written for Airflow, ``AIRFLOW_CTX_*``."""
        base = os.environ.copy() if (self.env is None or self.append_env) else {}
        if self.env:
            base.update({str(k): str(v) for k, v in self.env.items()})
        ti = context.get("ti") if isinstance(context, dict) else None
        if ti is None:
            return base
        identity = {
            "DAG_ID": ti.dag_id,
            "TASK_ID": ti.task_id,
            "DAG_RUN_ID": ti.run_id,
            "TRY_NUMBER": str(ti.try_number),
            "DAG_OWNER": str(self.owner),
        }
        if context.get("logical_date") is not None:
            identity["LOGICAL_DATE"] = context["logical_date"].isoformat()
        for prefix in ("TRADEWIND_CTX_", "AIRFLOW_CTX_"):
            base.update({prefix + name: value for name, value in identity.items()})
        return base

    def execute(self, context: Any) -> Any:
        command = self.bash_command
        if not isinstance(command, str) or not command.strip():
            raise TradewindException(f"task {self.task_id!r}: bash_command is empty")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise TradewindException(f"task {self.task_id!r}: cwd {self.cwd!r} is not a folder")
        self.log.info("Running command: %s", command)
        self._process = subprocess.Popen(
            ["bash", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self._environment(context),
            cwd=self.cwd,
            start_new_session=True,
        )
        last_line = ""
        assert self._process.stdout is not None
        try:
            for raw in iter(self._process.stdout.readline, b""):
                line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip()
                last_line = line
                self.log.info("%s", line)
            code = self._process.wait()
        finally:
            if self._process.poll() is None:
                self.on_kill()
            self._process.stdout.close()
        self.log.info("Command exited with return code %s", code)
        if code in self.skip_on_exit_code:
            raise TradewindSkipException(f"Bash command returned exit code {code}. Skipping.")
        if code != 0:
            raise TradewindException(
                f"Bash command failed. The command returned a non-zero exit code {code}."
            )
        return self.output_processor(last_line)

    def on_kill(self) -> None:
        stop_process_group(self._process)


def stop_process_group(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a command started in its own session and everything it started: SIGTERM to
    its group, SIGKILL if it is still there 5 s later."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(os.getpgid(process.pid), signal.SIGTERM)
        process.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)


class BashDecoratedOperator(BashOperator):
    """The operator behind ``@task.bash``: the function returns the command to run."""

    custom_operator_name = "@task.bash"
    template_fields: Sequence[str] = ("bash_command", "env", "cwd", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("multiple_outputs", None)
        super().__init__(bash_command="(set by the function at run time)", **kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        from tradewind.sdk.xcom_arg import set_dependencies_from_args

        set_dependencies_from_args(self, self.op_args, self.op_kwargs)

    def execute(self, context: Any) -> Any:
        from tradewind.operators.python import determine_kwargs

        merged = dict(context)
        merged.update(self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, merged)
        command = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TradewindException(
                f"@task.bash function {self.python_callable.__name__!r} must return a "
                f"non-empty command string, got {command!r}"
            )
        # The returned command is run as is, not rendered: it is computed from run data
        # (conf, XCom), and data is never template source.
        self.bash_command = command
        return super().execute(context)
