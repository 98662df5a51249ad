"""The durable store: one SQLite file in WAL mode under ``$PAPERLAB_HOME``.

- :mod:`.schema` DDL and append-only migrations (``PRAGMA user_version``)
- :mod:`.connection` where the file lives, one WAL connection per thread, transactions
- :mod:`.store` the :class:`Ledger` (sessions, commands, venue state, audit mixins)
- :mod:`.routing` events -> rows; :mod:`.writers` / :mod:`.writer_process` the writers
- :mod:`.backlog` / :mod:`.spool` / :mod:`.busy` a busy ledger: wait, retry, spool, replay
- :mod:`.queries` every read the rest of the house makes (no SQL outside this package)
"""

from kernelext.ledger.audit import AUDIT_GENESIS, audit_hash, canonical_json
from kernelext.ledger.connection import LEDGER_FILENAME, default_path, paperlab_home
from kernelext.ledger.spool import spool_dir
from kernelext.ledger.schema import MIGRATIONS, SESSION_TABLES
from kernelext.ledger.sessions import ACTIVE_STATUSES, SESSION_STATUSES, pid_alive
from kernelext.ledger.store import Ledger
from kernelext.ledger.writers import EventQueue, LedgerWriter, ProcessLedgerWriter

__all__ = [
    "ACTIVE_STATUSES",
    "AUDIT_GENESIS",
    "LEDGER_FILENAME",
    "MIGRATIONS",
    "SESSION_STATUSES",
    "SESSION_TABLES",
    "EventQueue",
    "Ledger",
    "LedgerWriter",
    "ProcessLedgerWriter",
    "audit_hash",
    "canonical_json",
    "default_path",
    "paperlab_home",
    "pid_alive",
    "spool_dir",
]
