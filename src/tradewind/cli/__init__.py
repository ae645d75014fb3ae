"""The ``tradewind`` command line. Subcommands are imported only when run."""
