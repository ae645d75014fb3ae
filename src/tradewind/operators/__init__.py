"""Built-in operators, with Airflow's names.

>>> from tradewind.operators import BashOperator, PythonOperator
"""

from tradewind.operators.bash import BashOperator
from tradewind.operators.empty import EmptyOperator
from tradewind.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from tradewind.operators.trigger_dagrun import TriggerDagRunOperator

__all__ = [
    "BashOperator",
    "BranchPythonOperator",
    "EmptyOperator",
    "PythonOperator",
    "ShortCircuitOperator",
    "TriggerDagRunOperator",
]
