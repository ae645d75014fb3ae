"""The only place SQL is written: functions over an explicit session, one module per resource."""
