"""Venue-specific widgets, found through the venue: ``Venue.panel`` names a kind, and each
kind's module here offers ``START_PANEL`` (ipywidgets start card), ``PANEL_START_PANEL``
(Panel start card) and ``CHIP`` (dashboard and app header health chip). Generic widgets ask
these functions and never branch on a venue."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from kernelext import venues
from kernelext.venues.base import Venue

_KINDS: dict[str, str] = {"ib": "widgets.venues.ib_panel"}  # Venue.panel -> its widgets module


def _module(venue: Venue | None) -> ModuleType | None:
    kind = venue.panel if venue is not None else ""
    return importlib.import_module(_KINDS[kind]) if kind in _KINDS else None


def start_panels(panel_start: bool = False) -> dict[str, type]:
    """Every venue's start-card panel class by venue name (Panel's with ``panel_start``)."""
    out = {}
    for venue in venues.every():
        module = _module(venue)
        if module is not None:
            out[venue.name] = module.PANEL_START_PANEL if panel_start else module.START_PANEL
    return out


def chip(venue: Venue | None) -> Any:
    """The venue's health chip (``text``, ``css_class``, ``html`` of a health row), or None."""
    module = _module(venue)
    return module.CHIP if module is not None else None
