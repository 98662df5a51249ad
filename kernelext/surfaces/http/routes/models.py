"""Request bodies. Unknown fields go to ``api.spec``, which names any it does not know."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SpecBody(BaseModel):
    """A session spec: one strategy on one instrument, or ``sleeves`` (a book); more ``api.spec``
    options (``max_bars``, ``margin``, ``fee_tier``, ``outside_rth``, ...) are accepted by name."""

    model_config = ConfigDict(extra="allow")

    strategy: str | None = Field(None, examples=["ema_cross"])
    instrument: str | None = Field(None, examples=["BTC/USD"])
    params: dict[str, Any] | None = Field(None, examples=[{"fast": 10, "slow": 30}])
    bar_spec: str | None = None
    sleeves: list[dict[str, Any]] | None = Field(None, description="a book: [{strategy, instrument, params?, name?}]")
    starting_cash: str | float | None = Field(None, examples=["10000 USD"])
    duration: str | float | None = Field(None, description="auto-stop after 30s, 10m, 2h", examples=["10m"])
    until: str | None = None
    feed: str | None = Field(None, description="a feed the venue offers")
    speed: str | float | None = None
    venue: str | None = None
    label: str | None = None
    seed: int | None = None

    def options(self, *skip: str) -> dict[str, Any]:
        """Everything given, as ``api.spec`` keywords (None left out)."""
        data = self.model_dump(exclude_none=True)
        return {k: v for k, v in data.items() if k not in skip}


class StartBody(SpecBody):
    """A start: the spec, and where it runs."""

    detach: bool = Field(False, description="run in a supervised process of its own")
    require_backtest: bool = Field(False, description="refuse unless a backtest of the same spec traded")
    i_understand: str | None = Field(None, description="a live (REAL MONEY) start: the live account id, typed")


class ApprovalBody(BaseModel):
    """A live approval (``paperlab approve-live``): strategy, instrument, optional exact params, why."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field(examples=["ibs_reversion"])
    instrument: str = Field(examples=["QQQ.NASDAQ"])
    params: dict[str, Any] | None = None
    note: str = Field(examples=["four weeks of paper within the backtest's drawdown"])
    paper_session: str | None = Field(None, description="the paper session that traded (default the newest)")


class RevokeBody(BaseModel):
    """Revoke the live approvals of a strategy on an instrument (``params``: only that one)."""

    model_config = ConfigDict(extra="forbid")

    strategy: str
    instrument: str
    params: dict[str, Any] | None = None


class BacktestBody(SpecBody):
    """A backtest of a spec, or ``like`` an earlier session (exactly the bars it saw)."""

    like: str | None = None
    bars: int | None = None


class TokenBody(BaseModel):
    """A new token's name and scope."""

    model_config = ConfigDict(extra="forbid")

    name: str
    scope: str = Field(examples=["read", "trade", "admin"])
