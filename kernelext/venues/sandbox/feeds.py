"""Which feed a session really gets: ``replay``, ``kraken``, or ``auto`` resolved at start.

``auto`` (the default) asks Kraken for up to 5 s and falls back to the offline replay
feed, and then says REPLAY everywhere (status, dashboard badge, ledger ``feed`` column,
CLI summary). ``kraken`` asked for explicitly fails with one line when Kraken cannot
be reached, or when an instrument is not one of its spot pairs.
"""

from __future__ import annotations

from dataclasses import replace

from kernelext.spec import SessionSpec, SpecError
from kernelext.venues.sandbox import bar_specs, kraken
from kernelext.venues.sandbox.instruments import KRAKEN
from kernelext.venues.sandbox.symbology import check_on_replay


def resolve_feed(spec: SessionSpec) -> tuple[SessionSpec, tuple[str, ...]]:
    """The spec with its feed decided, plus notes for the user."""
    if spec.feed == "replay":
        return spec, ()
    found = kraken.probe()
    if found.ok:
        _remember_pairs(found)
    if spec.feed == "kraken":
        if not found.ok:
            raise SpecError(f"feed: {found.error}; --feed replay trades offline")
        _check_kraken_pairs(spec, found)
        return spec, _kraken_bar_notes(spec)
    if found.ok:
        _check_kraken_pairs(spec, found)
        return replace(spec, feed="kraken"), ("LIVE FEED: Kraken spot market data, sandbox fills",
                                              *_kraken_bar_notes(spec))
    check_on_replay(spec.sleeves, why=" (Kraken is unreachable, so the session replays offline)")
    return replace(spec, feed="replay"), (f"REPLAY: {found.error}; replaying offline bars instead",)


def _kraken_bar_notes(spec: SessionSpec) -> tuple[str, ...]:
    """Every sleeve's bar spec checked against what Kraken serves (one line if not), and the
    note for second bars (no warm-up)."""
    specs = {s.bar_spec for s in spec.sleeves}
    for bar_spec in sorted(specs):
        bar_specs.check(bar_spec)
    return bar_specs.cold_start_note(specs)


def _remember_pairs(found: kraken.Probe) -> None:
    """Keep Kraken's pair list in the ledger: the start card searches it offline."""
    from kernelext.ledger import Ledger

    try:
        Ledger().cache_instruments(KRAKEN.value, found.pairs)
    except Exception:  # noqa: BLE001  (a cache, never a reason to fail a start)
        pass


def _check_kraken_pairs(spec: SessionSpec, found: kraken.Probe) -> None:
    for sleeve in spec.sleeves:
        problem = found.check(sleeve.instrument)
        if problem:
            raise SpecError(problem)
