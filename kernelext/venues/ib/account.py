"""The ib-paper account rule: a paper account id starts with ``DU`` (masked in every message)."""

from __future__ import annotations

from kernelext.spec import SpecError, mask_account

ACCOUNT_ENV = "PAPERLAB_IB_ACCOUNT_ID"


def check_ib_account(account_id: str) -> str:
    """The ib-paper account: ``PAPERLAB_IB_ACCOUNT_ID`` style id starting ``DU`` (empty: the gateway's)."""
    account_id = (account_id or "").strip()
    if account_id and not account_id.startswith("DU"):
        raise SpecError(f"account: ib-paper needs a paper account id starting with DU (got {mask_account(account_id)})")
    return account_id
