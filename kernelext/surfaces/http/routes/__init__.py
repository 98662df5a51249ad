"""One router per resource: sessions, frames, research (backtests, compare, reports), audit, tokens."""
