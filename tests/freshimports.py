"""Import modules each in a fresh interpreter state, cheaply: one child Python, one fork per module.

The layering tests ask "what does importing module X alone pull in?" for a hundred modules.
A new interpreter per module costs ~0.2 s of CPU each (start-up plus the same third-party
imports again); here one child process preloads the third-party libraries that are allowed
everywhere (never ``textual``, never ``alpaca_tui``), then forks once per module, and the
fork imports that module and reports which of the watched packages are in ``sys.modules``.
Each fork starts from the same clean state, so the answer is the same as a fresh process's
for everything we look at.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

# allowed in every layer; loaded once before the forks (they make the forks fast)
PRELOAD = ("httpx", "h11", "anyio", "cryptography.hazmat.primitives.asymmetric.rsa",
           "cryptography.hazmat.primitives.asymmetric.ec", "cryptography.hazmat.primitives.ciphers.aead",
           "keyring", "websockets", "platformdirs", "rich.text")

_CHILD = r"""
import importlib, json, os, sys
spec = json.loads(sys.stdin.read())
for name in spec["preload"]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
assert not any(m == "textual" or m.startswith(("textual.", "alpaca_tui")) for m in sys.modules)
out = sys.stdout
for module in spec["modules"]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(module)
            res = {"ok": True, "loaded": sorted(m for m in sys.modules
                                                 if m.split(".")[0] in spec["watch"])}
        except BaseException as exc:
            res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    res = json.loads(b"".join(chunks) or b'{"ok": false, "error": "the fork died"}')
    res["module"] = module
    out.write(json.dumps(res) + "\n")
"""


@dataclass(frozen=True)
class Imported:
    module: str
    ok: bool
    loaded: frozenset[str]  # watched modules in sys.modules after importing it
    error: str = ""


def import_each(modules: list[str],
                watch: tuple[str, ...] = ("textual", "alpaca_tui")) -> dict[str, Imported]:
    """Import each of ``modules`` alone (see the module doc): {module: what it loaded}."""
    spec = json.dumps({"modules": modules, "watch": list(watch), "preload": list(PRELOAD)})
    out = subprocess.run([sys.executable, "-c", _CHILD], input=spec, capture_output=True, text=True,
                         timeout=300, check=False)
    if out.returncode != 0:
        raise AssertionError(f"the import prober failed: {out.stderr[-2000:]}")
    results = {}
    for line in out.stdout.splitlines():
        doc = json.loads(line)
        results[doc["module"]] = Imported(doc["module"], doc["ok"], frozenset(doc.get("loaded", ())),
                                          doc.get("error", ""))
    missing = set(modules) - set(results)
    assert not missing, f"no answer for {sorted(missing)}"
    return results
