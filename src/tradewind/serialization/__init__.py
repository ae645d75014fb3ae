"""Turning values and DAGs into data that can cross a process boundary."""
