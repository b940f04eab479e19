"""The real ``alpaca-tui`` in a pseudo-terminal: the add-credential wizard with keys typed ahead
(one burst, like a paste or a fast typist over SSH), and ``kill -9`` while it saves.

Typed ahead, ``NAME⏎KEYID⏎SECRET⏎`` must put each value in its own field: never the secret in
the visible key-ID field, never a value cut short. Killed mid-save, the store holds either
nothing new, or the new secret without its profile (``doctor`` lists it, adding the profile
again replaces it) — never a listed profile without its secret, and the first profile intact.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from tests.cli.enginecli_support import home_env, run_cli, run_sub
from tests.conftest import child_pythonpath
from tests.e2e.crashhook import BOOT, READY_ENV, STALL_ENV
from tests.e2e.test_crash_recovery import REPO, Tui, _wait_ready

Cap = pytest.CaptureFixture[str]

FIRST = Secret("PKFIRSTFIRSTFIRST001", "first-secret-value-0123456789abcdefghij")
KEY_ID = "PKTYPEDAHEAD00000002"
SECRET = "typed-ahead-secret-XYZ0123456789abcd5678"


def _first_profile() -> None:
    Store.open().add_profile(Profile("first", Env.PAPER, Flow.LEGACY, mask(FIRST.key_id)),
                             SecretBundle(FIRST))


def _to_identifiers(app: Tui) -> None:
    app.step(r"1 credential", "n")
    app.step(r"step 1/5", "home")          # the list starts at the home screen's environment
    app.step(r"step 1/5", "down", settle=0.2)
    app.step(r"▊ Paper trading", "enter")
    app.step(r"step 2/5", "enter")          # trading keys: the one flow


def test_typed_ahead_identifiers_land_in_their_fields(alpaca_home: Path) -> None:
    _first_profile()
    app = Tui([sys.executable, "-m", "alpaca_tui"], {})
    try:
        _to_identifiers(app)
        # One write: name, enter, key ID, enter, secret, enter — no waiting in between.
        app.step(r"step 3/5", f"second,enter,{KEY_ID},enter,{SECRET},enter")
        app.step(r"step 4/5", "enter")      # expiry: never
        app.step(r"Press enter to save")  # the review's last line: the whole review is on the screen
        review = app.tty.text()
        assert "step 5/5" in review, review
        assert f"Key ID       {mask(KEY_ID)}" in review, review
        assert f"Secret       {mask(SECRET)}" in review, review
        assert SECRET not in review and SECRET[-8:] not in review
        app.step(r"Press enter to save", "enter")
        app.step(r"Saved second", "n")      # no connectivity check now (no server here)
        app.step(r"2 credentials")
    finally:
        app.kill()
    store = Store.open()
    assert store.load_bundle("second").active == Secret(KEY_ID, SECRET)
    assert store.load_bundle("first").active == FIRST


@pytest.mark.parametrize("stall", ["secrets.enc:1", "index.json:1"])
def test_kill_9_while_the_wizard_saves(stall: str, alpaca_home: Path, tmp_path: Path, capsys: Cap) -> None:
    _first_profile()
    ready = tmp_path / "ready"
    app = Tui([sys.executable, "-c", BOOT],
              {STALL_ENV: stall, READY_ENV: str(ready), "PYTHONPATH": child_pythonpath(str(REPO))})
    try:
        _to_identifiers(app)
        app.step(r"step 3/5", f"second,enter,{KEY_ID},enter,{SECRET},enter")
        app.step(r"step 4/5", "enter")
        app.step(r"Press enter to save", "enter")
        pid = _wait_ready(ready, lambda: app.tty.alive, f"{stall}; screen:\n{app.tty.text()}",
                          idle=lambda: app.tty.pump(0.01))
        assert pid == app.tty.pid
    finally:
        app.kill()
    assert app.status is not None and os.WIFSIGNALED(app.status) and os.WTERMSIG(app.status) == signal.SIGKILL

    store = Store.open()
    assert [p.name for p in store.list_profiles()] == ["first"]  # never a profile without its secret
    assert store.load_bundle("first").active == FIRST
    orphans = ["second"] if stall == "index.json:1" else []
    assert store.secret_names() == sorted(["first", *orphans])
    code, out, err = run_cli(capsys, "doctor", "--json")
    assert code == 0, err
    assert json.loads(out)["consistency"]["orphans"] == orphans
    assert SECRET not in out + err
    # Adding the profile again works and replaces a left-over secret.
    other = "replacement-secret-0123456789abcdefghij"
    res = run_sub("profiles", "add", "second", "--env", "paper", "--flow", "legacy", "--key-id", KEY_ID,
                  "--secret-stdin", env=home_env(alpaca_home), stdin=other + "\n")
    assert res.returncode == 0, res.stderr
    assert Store.open().load_bundle("second").active == Secret(KEY_ID, other)
    assert Store.open().secret_names() == ["first", "second"]
