"""Small text helpers shared by the screens: badges, short labels, times. No widgets here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Env
from alpaca_tui.core.expiry import ExpiryState, describe_expiry, expiry_state, humanize_delta
from alpaca_tui.core.sanitize import clean_line
from alpaca_tui.core.scopes import AccessMatrix, Level

ENV_ORDER: tuple[Env, ...] = (Env.LIVE, Env.PAPER, Env.BROKER_LIVE, Env.BROKER_SANDBOX)

FLOW_SHORT: dict[Flow, str] = {
    Flow.LEGACY: "key+secret",
    Flow.CLIENT_SECRET: "oauth secret",
    Flow.PRIVATE_KEY_JWT: "oauth jwt",
}

TOKEN_LIFETIME = 899.0  # seconds (alpaca-auth.md §2)


def env_style(env: Env) -> str:
    """Live environments (real money) are drawn in the warning colour."""
    return "bold orange1" if env.is_live else "bold cyan"


def expiry_badge(expires_at: datetime | None, now: datetime) -> Text:
    state = expiry_state(expires_at, now)
    if state is ExpiryState.EXPIRED:
        return Text("✗ expired", style="bold red")
    if expires_at is None:
        return Text("● never", style="green")
    left = humanize_delta(expires_at - now).split(" ")[0]
    if state is ExpiryState.EXPIRING:
        return Text(f"▲ {left}", style="bold yellow")
    return Text(f"● {left}", style="green")


def expiry_words(expires_at: datetime | None, now: datetime, *, local: bool = False) -> str:
    state = expiry_state(expires_at, now)
    when = describe_expiry(expires_at, now)
    if expires_at is None:
        return "never expires"
    day = _zone(expires_at, local).strftime("%Y-%m-%d")
    return f"{state.value} · {day} ({when})"


def _zone(dt: datetime, local: bool) -> datetime:
    """``dt`` in UTC, or in the machine's time zone (config.toml ``ui.time = "local"``)."""
    return dt.astimezone() if local else dt.astimezone(UTC)


def _zone_name(dt: datetime) -> str:
    return dt.strftime("%Z") or dt.strftime("UTC%z")


def ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    delta = now - then
    if delta.total_seconds() < 60:
        return "now"
    return humanize_delta(delta).split(" ")[0] + " ago"


def verified_badge(profile: Profile, now: datetime) -> Text:
    if profile.last_check_ok is None:
        return Text("unchecked", style="dim")
    when = ago(profile.last_verified_at, now)
    if profile.last_check_ok:
        return Text(f"✓ {when}", style="green")
    return Text(f"✗ {when}", style="bold red")


def mmss(seconds: float) -> str:
    s = int(max(seconds, 0))
    m, s = divmod(s, 60)
    return f"{m:02d}:{s:02d}"


def time_left(seconds: float) -> str:
    """'1:02:03' under two days (a live countdown), else '3d 4h'."""
    s = int(max(seconds, 0))
    if s < 48 * 3600:
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        return f"{h}:{m:02d}:{sec:02d}"
    from datetime import timedelta

    return humanize_delta(timedelta(seconds=s))


def clock_time(ts: float | None, *, local: bool = False) -> str:
    if ts is None:
        return "—"
    dt = _zone(datetime.fromtimestamp(ts, UTC), local)
    return dt.strftime("%H:%M:%S ") + _zone_name(dt)


def stamp(dt: datetime | None, *, local: bool = False) -> str:
    if dt is None:
        return "—"
    dt = _zone(dt, local)
    return dt.strftime("%Y-%m-%d %H:%M ") + _zone_name(dt)


def token_summary(profile: Profile, state: Any, now: float) -> Text:
    """Token column on the home screen: '—' for key+secret, else time left on the cached token."""
    if not profile.flow.is_oauth:
        return Text("n/a", style="dim")
    expires_at = getattr(state, "expires_at", None) if state is not None else None
    if expires_at is None:
        if state is not None and getattr(state, "last_error", None):
            return Text("✗ error", style="bold red")
        return Text("no token", style="dim")
    left = expires_at - now
    issued_at = getattr(state, "issued_at", None)
    if issued_at is not None and expires_at > issued_at:
        left = min(left, expires_at - issued_at)  # a clock set back must not stretch the token
    if left <= 0:
        return Text("expired", style="yellow")
    warn = " ⚠" if getattr(state, "last_error", None) else ""  # refresh failing, token still valid
    return Text(f"{mmss(left)} left{warn}", style="green" if left > 60 and not warn else "yellow")


def access_brief(access: AccessMatrix) -> str:
    """'full', 'read-only' or 'custom — rw: Trading; ro: Accounts, Data; none: 7 scopes'."""
    if access.preset_name != "custom":
        return access.preset_name

    def names(level: Level) -> str:
        scopes = [s.label for s, lvl in access.levels.items() if lvl is level]
        if not scopes:
            return "—"
        return ", ".join(scopes) if len(scopes) <= 3 else f"{len(scopes)} scopes"

    return f"custom — rw: {names(Level.RW)}; ro: {names(Level.RO)}; none: {names(Level.NONE)}"


def profile_search_text(profile: Profile) -> str:
    return " ".join([profile.name, profile.env.value, profile.env.label, profile.flow.value,
                     FLOW_SHORT[profile.flow], profile.key_id_masked, profile.access.summary(),
                     profile.note or ""]).lower()


def profile_summary(p: Profile, now: datetime, *, local: bool = False) -> Text:
    """The home screen's panel under the list: the selected credential in three lines (who; access;
    expiry and last check), each short enough for 80 columns unless a check error is long."""
    t = Text()
    t.append(clean_line(p.name), style="bold")  # the index is a file: its fields are data
    t.append(f"  {p.env.label} · {p.flow.label} · {clean_line(p.key_id_masked)}\n",
             style="orange1" if p.env.is_live else "")
    t.append("access ", style="dim")
    t.append(access_brief(p.access) if p.env.is_broker else "full (trading key)")
    t.append("\nexpires ", style="dim")
    t.append(expiry_words(p.expires_at, now, local=local))
    t.append("  verified ", style="dim")
    if p.last_verified_at is None:
        t.append("never")
    else:
        t.append(f"{stamp(p.last_verified_at, local=local)} ")
        t.append("ok" if p.last_check_ok else f"failed: {clean_line(p.last_check_error or '')}",
                 style="green" if p.last_check_ok else "red")
    if p.rotation_state:
        t.append(f"  rotation: {p.rotation_state}", style="yellow")
    return t
