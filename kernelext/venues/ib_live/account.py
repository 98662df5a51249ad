"""The ib-live account rule: a live account id starts with ``U`` (a ``DU…`` paper id is refused), masked."""

from __future__ import annotations

from kernelext.spec import SpecError, mask_account
from kernelext.venues.ib.probe import LIVE_ACCOUNT_ENV

ACCOUNT_ENV = LIVE_ACCOUNT_ENV  # PAPERLAB_IB_LIVE_ACCOUNT_ID


def check_live_account(account_id: str) -> str:
    """The live account: an id starting ``U`` (not ``DU``), from ``--account`` or PAPERLAB_IB_LIVE_ACCOUNT_ID."""
    account_id = (account_id or "").strip()
    if not account_id:
        raise SpecError(f"account: ib-live needs the live account id (U…): pass --account or set {ACCOUNT_ENV}")
    if account_id.startswith("DU"):
        raise SpecError(f"account: {mask_account(account_id)} is a paper account; ib-live takes a live account id "
                        "starting with U (use --venue ib-paper for DU… accounts)")
    if not account_id.startswith("U") or not account_id[1:].isdigit():
        raise SpecError(f"account: ib-live needs a live account id like U1234567 (got {mask_account(account_id)})")
    return account_id
