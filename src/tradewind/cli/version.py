"""``tradewind version``."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from tradewind import __version__

    print(__version__)
    return 0
