"""XCom storage backends. See :mod:`tradewind.xcom.base` for the contract."""
