from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.retry import retry


class Transient(Exception):
    pass


@given(failures=st.integers(0, 6), attempts=st.integers(1, 6))
def test_an_action_is_tried_until_it_succeeds_or_the_attempts_run_out(
    failures: int, attempts: int
) -> None:
    calls = []

    def action() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise Transient(f"failure {len(calls)}")
        return "done"

    if failures < attempts:
        assert retry(action, on=Transient, attempts=attempts, pause_s=0) == "done"
        assert len(calls) == failures + 1
    else:
        with pytest.raises(Transient, match=f"failure {attempts}"):
            retry(action, on=Transient, attempts=attempts, pause_s=0)
        assert len(calls) == attempts


def test_an_error_a_second_attempt_cannot_cure_fails_the_first_time() -> None:
    calls = []

    def action() -> None:
        calls.append(1)
        raise TypeError("a bug")

    with pytest.raises(TypeError, match="a bug"):
        retry(action, on=Transient, attempts=5, pause_s=0)
    assert calls == [1]
