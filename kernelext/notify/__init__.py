"""Notifications through apprise: relaunches, errors, risk halts, reports and (throttled) fills.

- :mod:`.urls` parse and check apprise URLs (``--notify``, ``$PAPERLAB_NOTIFY``); mask their secrets
- :mod:`.store` a detached session's URLs in an owner-only file (the ledger holds only masked ones)
- :mod:`.messages` the title and text of each notification
- :mod:`.digest` fills summed into at most one message per period
- :mod:`.notifier` send through apprise (never raises into the caller), or post from a background thread

Importing this package loads nothing heavy; apprise is imported when a URL is checked or sent.
"""
