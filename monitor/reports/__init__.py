"""Reports: the ``report`` command, scheduled reports and the status page's trends.

``figures`` (pure) computes what a report shows from rollup tallies, ``source`` picks
the rollups or calls fetched from the API, ``render`` writes text and HTML, ``schedule``
(pure) says which period is due, ``deliver`` turns a report into outbox notifications
and notifier messages, ``jobs`` is the daemon's driver, ``trends`` the status page's
section, ``command`` the CLI subcommand. The ``reports:`` section is in
:mod:`monitor.config.reporting`.
"""
