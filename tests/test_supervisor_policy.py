"""The relaunch policy: at once, then a doubling backoff, a cap per hour; final statuses stay."""

from __future__ import annotations

from kernelext.supervisor.policy import RelaunchPolicy, should_relaunch


def test_backoff_doubles_and_the_cap_gives_up() -> None:
    policy = RelaunchPolicy(max_per_hour=5, base_delay_s=1.0, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(6)] == [0.0, 1.0, 2.0, 3.0, 3.0, None]
    assert "5 times" in policy.give_up_reason(5, "process 1 ended (killed by signal 9)")


def test_only_a_process_that_died_is_relaunched() -> None:
    for status in ("starting", "running", "paused", "crashed"):
        assert should_relaunch(status)
    for status in ("stopped", "error", None):
        assert not should_relaunch(status)
