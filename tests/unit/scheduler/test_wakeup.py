"""A local scheduler is woken by notify(); with nobody listening, notify is harmless."""

from __future__ import annotations

import threading

from tradewind.scheduler.wakeup import WakeupListener, notify


def test_notify_wakes_a_listener_and_is_harmless_without_one() -> None:
    assert notify() is False
    woke = threading.Event()
    listener = WakeupListener(woke.set)
    listener.start()
    try:
        assert notify() is True
        assert woke.wait(2)
    finally:
        listener.stop()
    assert notify() is False
