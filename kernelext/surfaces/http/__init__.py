"""The HTTP surface: REST + WebSocket over ``kernelext.api`` (FastAPI on uvicorn).

A thin layer, as freqtrade's ``rpc/api_server`` is over its ``rpc``: ``app`` (factory), ``config``
(limits from env), ``auth`` (bearer tokens, scopes), ``limits`` (rates, ceilings), ``routes/`` (one
module per resource), ``ws`` (the event streams), ``formats`` (JSON/CSV/Arrow), ``errors``
(``{"error": one_line}``), ``server`` (``paperlab api``: bind checks, banner, uvicorn).
"""

from kernelext.surfaces.http.app import create_app

__all__ = ["create_app"]
