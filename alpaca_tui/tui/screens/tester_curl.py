"""The tester's "copy as cURL" keys: placeholders for the variables ``alpaca-tui exec`` sets
(ctrl+o), or the real secret after a confirmation (ctrl+k). Each copy says so in a notice
beside the status line, which keeps the last response's status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.timer import Timer
from textual.widgets import Static

from alpaca_tui.core.credentials import Flow, Profile
from alpaca_tui.core.environments import Api
from alpaca_tui.core.redact import redact
from alpaca_tui.tui import services
from alpaca_tui.tui.curl import curl_command
from alpaca_tui.tui.messages import OperationFailed
from alpaca_tui.tui.screens.base import AppScreen

if TYPE_CHECKING:
    from alpaca_tui.core.credentials import SecretBundle

Form = tuple[Profile, Api, str, str, dict[str, str], Any]


class CurlCopying(AppScreen):
    """The base of the tester screen: its cURL actions and the notice next to the status."""

    _notice_timer: Timer | None = None

    def _read_form(self) -> Form | None:
        raise NotImplementedError  # the tester's

    # -- cURL ----------------------------------------------------------------------------
    def action_copy_curl(self) -> None:
        form = self._read_form()
        if form is None:
            return
        p, api, method, path, params, body = form
        line = curl_command(p, api, method, path, params, body)
        self.app.copy_to_clipboard(line)
        self.show_notice(Text(f"copied cURL · run it with alpaca-tui exec {p.name}", style="green"))

    def action_copy_curl_secrets(self) -> None:
        from alpaca_tui.tui.dialogs.confirm import ConfirmDialog

        form = self._read_form()
        if form is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._curl_with_secrets(form)

        self.app.push_screen(ConfirmDialog("Copy with secrets", "Put the real secret (or access token) into "
                                           "the clipboard? Anything that reads the clipboard can see it.",
                                           yes="Copy with secrets", danger=True), callback=answered)

    @work(exclusive=True, group="curl", exit_on_error=False)
    async def _curl_with_secrets(self, form: Form) -> None:
        p, api, method, path, params, body = form
        try:
            bundle = await self._load_bundle(p.name)
            token = None
            if p.flow.is_oauth and self.session.engine is not None:
                token = services.token_value(await self.session.engine.token(p.name))
            line = curl_command(p, api, method, path, params, body, key_id=bundle.active.key_id,
                                secret=bundle.active.secret if p.flow is not Flow.PRIVATE_KEY_JWT else None,
                                token=token)
        except Exception as exc:
            self.post_message(OperationFailed("copy cURL", services.one_line(exc)))
            return
        self.app.copy_to_clipboard(line)
        shown = redact(line, [*bundle.values(), token])
        self.show_notice(Text(f"copied with secrets: {shown[:60]}…", style="yellow"))

    def show_notice(self, text: Text, seconds: float = 8.0) -> None:
        """A short notice beside the status line (which keeps the last response's status)."""
        notice = self.query_one("#tester-notice", Static)
        notice.update(text)
        if self._notice_timer is not None:
            self._notice_timer.stop()
        self._notice_timer = self.set_timer(seconds, lambda: notice.update(""))

    async def _load_bundle(self, name: str) -> SecretBundle:
        import asyncio

        return await asyncio.to_thread(self.session.require_store().load_bundle, name)


__all__ = ["CurlCopying"]
