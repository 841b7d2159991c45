"""The dispatcher's own set-up: synchronous filters run on the event loop, not in threads."""

from __future__ import annotations

import subprocess
import sys
import threading

from aiogram import Router

from bot.dispatcher import create_dispatcher, run_sync_filters_inline


async def test_a_sync_filter_runs_on_the_loop_with_the_arguments_it_asks_for() -> None:
    threads: list[int] = []

    def says_hi(message: str) -> bool:
        threads.append(threading.get_ident())
        return message == "hi"

    router = Router()

    @router.message(says_hi)
    async def handler(message: str) -> None: ...

    assert run_sync_filters_inline(router) == 1
    check = router.message.handlers[0].check
    # aiogram passes every middleware value as a keyword; the filter still gets only its own.
    assert (await check("hi", state=None, bot=None))[0] is True
    assert (await check("bye", state=None))[0] is False
    assert threads == [threading.get_ident()] * 2
    assert run_sync_filters_inline(router) == 0  # already inline


def test_the_bot_has_no_filter_left_for_a_worker_thread(settings, session_factory, i18n) -> None:
    dp = create_dispatcher(settings, session_factory, i18n)
    filters = [
        event_filter
        for router in dp.chain_tail
        for observer in router.observers.values()
        for handler in [observer._handler, *observer.handlers]
        for event_filter in handler.filters or ()
    ]
    assert filters and all(event_filter.awaitable for event_filter in filters)


def test_matplotlib_is_not_imported_at_start() -> None:
    # ~28 MB of idle memory: /status imports it with its first chart (exports/charts.py).
    code = "import sys, bot.app; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
