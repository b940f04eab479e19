"""tests/measured.py reports a child's own peak memory, not its parent's (the hostile tests'
"peak RSS well under 300 MiB" depends on it)."""

from __future__ import annotations

from tests.measured import run_measured


def test_a_big_parent_does_not_inflate_the_childs_peak() -> None:
    ballast = b"x" * (320 * 2**20)  # touched pages: this process's peak RSS is now > 320 MiB
    try:
        res = run_measured("--version")
    finally:
        del ballast
    assert res.rc == 0 and res.out.startswith(b"alpaca-tui "), res
    assert 5 < res.maxrss_mib < 150, res.maxrss_mib  # a bare `alpaca-tui --version` is ~20-30 MiB


def test_exit_code_and_output_are_the_commands() -> None:
    res = run_measured("no-such-command")
    assert res.rc == 2 and b"no-such-command" in res.err and not res.killed
