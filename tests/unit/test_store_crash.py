"""kill -9 in the middle of a write leaves the previous files intact and the lock released."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
from alpaca_tui.core.environments import Env
from alpaca_tui.core.redact import mask
from alpaca_tui.core.store import Store
from tests.conftest import lock_is_free, subprocess_env

# The child adds a profile but stops forever just before renaming its temp file over
# TARGET (index.json or secrets.enc), holding the home lock; the parent then kills it.
CHILD = textwrap.dedent("""
    import os, sys, time
    from alpaca_tui.core.store import Store, fsutil
    from alpaca_tui.core.credentials import Flow, Profile, Secret, SecretBundle
    from alpaca_tui.core.environments import Env
    target = sys.argv[1]
    real_replace = os.replace
    def stalled_replace(src, dst):
        if os.path.basename(str(dst)) == target:
            print("READY", flush=True)
            time.sleep(120)
        return real_replace(src, dst)
    fsutil.os.replace = stalled_replace
    store = Store.open()
    store.add_profile(Profile("new", Env.PAPER, Flow.LEGACY, "PKNE…0001"),
                      SecretBundle(active=Secret("PKNEWNEWNEWNEWNE0001", "new-secret-never-landed-1234")))
    print("FINISHED", flush=True)
""")


@pytest.mark.parametrize("target", ["index.json", "secrets.enc"])
def test_kill_9_mid_write_keeps_previous_state(alpaca_home: Path, target: str) -> None:
    old = SecretBundle(active=Secret("PKOLDOLDOLDOLDOLD001", "old-secret-value-0123456789"))
    Store.open().add_profile(Profile("old", Env.PAPER, Flow.LEGACY, mask("PKOLDOLDOLDOLDOLD001")), old)
    index_before = (alpaca_home / "index.json").read_bytes()
    secrets_before = (alpaca_home / "secrets.enc").read_bytes()

    child = subprocess.Popen([sys.executable, "-c", CHILD, target], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "READY", child.stderr.read() if child.stderr else ""
        assert not lock_is_free(alpaca_home)  # it really is mid-write, under the lock
        temps = [p for p in alpaca_home.iterdir() if p.name.startswith(f".{target}.")]
        assert temps, "the child should have written its temp file"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL

    # The previous index is intact and parseable; no half-written file replaced anything.
    assert (alpaca_home / "index.json").read_bytes() == index_before
    assert list(json.loads(index_before)["profiles"]) == ["old"]
    if target == "secrets.enc":
        assert (alpaca_home / "secrets.enc").read_bytes() == secrets_before
    assert lock_is_free(alpaca_home)  # the kernel released the dead holder's lock
    store = Store.open()
    assert [p.name for p in store.list_profiles()] == ["old"]
    assert store.load_bundle("old") == old
    # The next writer cleans the stale temp file and can add the same profile for real.
    store.add_profile(Profile("new", Env.PAPER, Flow.LEGACY, "PKNE…0001"),
                      SecretBundle(active=Secret("PKNEWNEWNEWNEWNE0001", "second-attempt-secret-5678")))
    assert not [p for p in alpaca_home.iterdir() if p.name.endswith(".tmp")]
    assert Store.open().load_bundle("new").active.secret == "second-attempt-secret-5678"
    assert Store.open().load_bundle("old") == old
