"""Sessions as supervised processes: ``--detach`` hands a session to the supervisor.

- :mod:`.request` writes a detached session's row and its launch request (the ledger)
- :mod:`.files` the supervisor's pid/lock file and logs under ``$PAPERLAB_HOME``
- :mod:`.spawn` starts the supervisor on demand (double fork, own session)
- :mod:`.policy` when a dead session is relaunched (backoff, a cap per hour)
- :mod:`.daemon` the supervisor: launches, watches, relaunches, adopts
- :mod:`.session_process` one session in its own process (``python -m kernelext.supervisor.session_process ID``)

Importing this package loads neither Nautilus nor Polars.
"""
