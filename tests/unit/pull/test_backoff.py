"""The pull side's backoff: equal-jitter waits, doubling to a cap."""

from dlrhook.pull.backoff import Backoff


def test_backoff_waits_are_equal_jitter_doubling_to_the_cap_and_reset_after_a_success() -> None:
    backoff = Backoff(0.5, 8.0)
    waits = [backoff.next() for _ in range(100)]
    for n, wait in enumerate(waits):
        ceiling = min(8.0, 0.5 * 2**n)
        assert ceiling / 2 <= wait <= ceiling
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5
