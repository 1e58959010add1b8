"""History: calls rolled up per trunk and minute in the state DB, kept for weeks.

``buckets`` (pure) holds the mergeable latency distributions, ``rollup`` (pure) turns
calls into per-minute tallies, ``store`` is the SQL (written in the calls' own
transaction, downsampled to hours, dropped after ``history.keep``). The ``history:``
and ``reports:`` config sections are in :mod:`monitor.config.reporting`.
"""
