"""Frames as JSON, CSV or Arrow: ``?format=`` first, else the ``Accept`` header, else JSON."""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response

from kernelext.errors import SpecError

if TYPE_CHECKING:
    import polars as pl

FORMATS: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "arrow": "application/vnd.apache.arrow.stream",
}


def wanted(request: Request, fmt: str | None) -> str:
    """The format asked for (``format``: one line naming the allowed ones)."""
    if fmt:
        if fmt not in FORMATS:
            raise SpecError(f"format: {fmt!r} is not a format; allowed: {', '.join(FORMATS)}")
        return fmt
    accept = request.headers.get("accept", "")
    if "apache.arrow" in accept:
        return "arrow"
    if "text/csv" in accept:
        return "csv"
    return "json"


def plain(value: Any) -> Any:
    """A value JSON can carry: NaN/inf as null, datetimes as ISO text, nested values walked."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def json_response(value: Any, status: int = 200) -> Response:
    """``value`` as JSON (NaN-safe)."""
    return Response(json.dumps(plain(value), default=str), status_code=status, media_type="application/json")


def frame_response(df: pl.DataFrame, request: Request, fmt: str | None) -> Response:
    """``df`` in the format asked for."""
    kind = wanted(request, fmt)
    if kind == "json":
        return json_response(df.to_dicts())
    if kind == "csv":
        return Response(_flat(df).write_csv(), media_type=FORMATS["csv"])
    buf = io.BytesIO()
    df.write_ipc_stream(buf)
    return Response(buf.getvalue(), media_type=FORMATS["arrow"])


def _flat(df: pl.DataFrame) -> pl.DataFrame:
    """Nested columns (lists, structs) as JSON text: CSV holds flat values only."""
    import polars as pl

    nested = [c for c, t in df.schema.items() if isinstance(t, (pl.List, pl.Struct, pl.Array, pl.Object))]
    if not nested:
        return df
    return df.with_columns(pl.col(c).map_elements(lambda v: json.dumps(plain(v), default=str),
                                                  return_dtype=pl.String) for c in nested)
