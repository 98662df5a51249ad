"""A live session's log is masked as it grows: account ids appended since the last look, once whole."""

from __future__ import annotations

from pathlib import Path

from kernelext.session.logs import LogMasker


def test_ids_appended_since_the_last_look_are_masked_in_place_and_a_cut_id_once_whole(tmp_path: Path) -> None:
    log = tmp_path / "nautilus.log"
    log.write_bytes(b"2026-01-01T00:00:00Z [INFO] T.Portfolio: AccountState(account_id=IB-U7654321, ...)\n")
    masker = LogMasker()
    assert masker.mask([log]) == 1
    assert b"IB-U7******," in log.read_bytes() and b"U7654321" not in log.read_bytes()
    with log.open("ab") as f:  # the writer is mid-way through an id when the masker looks
        f.write(b"2026-01-01T00:00:01Z [INFO] T.ExecEngine: OrderFilled(account_id=IB-DU12345")
    size = log.stat().st_size
    assert masker.mask([log]) == 0 and log.stat().st_size == size  # not yet: more digits may follow
    with log.open("ab") as f:
        f.write(b"67, qty=5)\n")
    assert masker.mask([log]) == 1
    text = log.read_bytes()
    assert b"IB-DU1******, qty=5)" in text and b"1234567" not in text
    assert masker.mask([log]) == 0  # nothing new: nothing read twice but the overlap, nothing masked twice


def test_a_rotated_file_and_its_successor_are_both_masked(tmp_path: Path) -> None:
    first, rotated = tmp_path / "nautilus.log", tmp_path / "nautilus.1.log"
    first.write_bytes(b"account U7654321 logged\n")
    masker = LogMasker()
    assert masker.mask([first]) == 1
    first.rename(rotated)
    with rotated.open("ab") as f:
        f.write(b"last line of U1111111 before rotation\n")
    first.write_bytes(b"new file: U2222222\n")
    assert masker.mask([first, rotated]) == 2
    assert b"U1111111" not in rotated.read_bytes() and b"U2222222" not in first.read_bytes()
