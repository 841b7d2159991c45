"""Webhook mode: `python main.py webhook`, one of several processes behind a load balancer.

Telegram (or the load balancer in front of these processes) POSTs each update to WEBHOOK_PATH
with the secret token in ``X-Telegram-Bot-Api-Secret-Token``; a request without the right one
gets 401 and is not read. An update is answered only after it has been handled: a process that
dies meanwhile leaves it unanswered and Telegram delivers it again, to whichever process the
balancer picks. Any process can take any update because form state lives in the database,
never in the process; a redelivered update that was handled already is dropped
(bot/pipeline/unit_of_work.py).

GET /healthz answers 200 with a small JSON while the database (and Redis, when configured)
answers, 503 otherwise and while stopping, so a balancer stops sending here first.

SIGTERM or Ctrl-C: stop accepting (the socket closes; updates arriving on open connections get
503 and Telegram retries them elsewhere), finish the updates in progress, stop the scheduler,
close the Bot API session, the storage and the engine — within STOP_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from sqlalchemy import text

from bot.app import BotRuntime, bot_runtime
from bot.config import HEALTH_PATH, ConfigError, Settings
from bot.pipeline.locks import RedisLockIsolation

logger = logging.getLogger(__name__)

# The whole stop fits in 5 s: updates in progress get most of it.
STOP_SECONDS: Final = 5.0
DRAIN_SECONDS: Final = 3.0
SCHEDULER_GRACE: Final = 1.0
HEALTH_TIMEOUT: Final = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebhookServer:
    """The aiohttp application around the dispatcher, with draining and a health check."""

    def __init__(self, runtime: BotRuntime, secret: str) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self._secret = secret
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._track])
        dp, bot = self.runtime.dp, self.runtime.bot
        # Answer only once the update is handled: if this process dies meanwhile, Telegram
        # sends the update again instead of it being lost with the process.
        SimpleRequestHandler(
            dispatcher=dp, bot=bot, handle_in_background=False, secret_token=self._secret
        ).register(app, path=self.settings.webhook_path)
        setup_application(app, dp, bot=bot)
        app.router.add_get(HEALTH_PATH, self.health)
        return app

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == HEALTH_PATH:
            return await handler(request)
        if self.draining:
            # Not accepted: Telegram retries it, and the balancer sends it to another process.
            return web.json_response({"status": "stopping"}, status=503)
        self._in_flight += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def health(self, request: web.Request) -> web.Response:
        if self.draining:
            return web.json_response({"status": "stopping"}, status=503)
        checks = {"database": await self._check(self._ping_database)}
        locks = self.runtime.dp["user_locks"]
        if isinstance(locks, RedisLockIsolation):
            checks["redis"] = await self._check(locks.redis.ping)
        healthy = all(value == "ok" for value in checks.values())
        return web.json_response(
            {"status": "ok" if healthy else "unavailable", **checks},
            status=200 if healthy else 503,
        )

    async def _ping_database(self) -> None:
        async with self.runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    @staticmethod
    async def _check(probe: Callable[[], Awaitable[Any]]) -> str:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await probe()
        except Exception as exc:
            logger.warning("health check failed: %s", type(exc).__name__)
            return "unavailable"
        return "ok"

    async def start(self) -> None:
        # No access log: a balancer's health checks would fill it.
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.webhook_host, self.settings.webhook_port)
        await site.start()
        self._site = site
        logger.info(
            "webhook: listening on %s:%d%s",
            self.settings.webhook_host,
            self.settings.webhook_port,
            self.settings.webhook_path,
        )
        await self._register_webhook()

    async def _register_webhook(self) -> None:
        """setWebhook when WEBHOOK_URL is set; each of several processes may do it, harmless."""
        url = self.settings.webhook_full_url
        if url is None:
            logger.info("webhook: WEBHOOK_URL not set; setWebhook is left to the operator")
            return
        dp = self.runtime.dp
        try:
            await self.runtime.bot.set_webhook(
                url,
                secret_token=self._secret,
                allowed_updates=dp.resolve_used_update_types(),
            )
        except TelegramBadRequest as exc:
            raise ConfigError(f"WEBHOOK_URL: rejected by the Bot API ({exc.message})") from None
        except TelegramAPIError as exc:
            # Another process may have registered it; updates come once the Bot API answers.
            logger.warning("webhook: setWebhook failed (%s)", type(exc).__name__)
            return
        logger.info("webhook: registered %s with Telegram", url)

    async def stop(self, deadline: float) -> None:
        """Stop accepting, let the updates in progress finish, then close everything."""
        self.draining = True
        if self._site is not None:
            await self._site.stop()  # the listening socket closes: new connections go elsewhere
        if self._in_flight:
            logger.info("stopping: finishing %d update(s) in progress", self._in_flight)
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await self._idle.wait()
            except TimeoutError:
                logger.warning("stopping: %d update(s) still in progress", self._in_flight)
        await self.runtime.scheduler.stop(grace=SCHEDULER_GRACE)
        if self._runner is not None:
            # Emits the dispatcher's shutdown (closes the FSM storage) and closes the bot session.
            await self._runner.cleanup()


async def run_webhook(settings: Settings) -> None:
    """Serve updates over HTTP until SIGTERM or SIGINT; migrations are applied before (main.py)."""
    secret = settings.require_webhook_secret()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    serving = False

    def on_signal() -> None:
        if serving:
            stop.set()
        elif main_task is not None:
            main_task.cancel()  # still starting (e.g. waiting for the Bot API): just give up

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        async with bot_runtime(settings) as runtime:
            server = WebhookServer(runtime, secret)
            try:
                await server.start()
                serving = True
                logger.info("serving webhook updates as @%s", runtime.me.username)
                await stop.wait()
                logger.info("stopping: no new updates accepted")
                await server.stop(deadline=time.monotonic() + DRAIN_SECONDS)
            finally:
                if not server.draining:
                    await server.stop(deadline=time.monotonic())
    except asyncio.CancelledError:
        pass
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
