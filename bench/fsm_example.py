"""Runs aiogram's examples/finite_state_machine.py, unmodified, against TELEGRAM_API_URL.

The example builds ``Bot(token=TOKEN, ...)`` with no way to name another Bot API server, so this
launcher changes only the default of ``BaseSession.__init__(api=...)`` — the server every
session talks to unless told otherwise — and then runs the example file as ``__main__``.

    python -m bench.fsm_example path/to/finite_state_machine.py
"""

from __future__ import annotations

import os
import runpy
import sys

from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer


def main() -> None:
    server = TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"])
    defaults = list(BaseSession.__init__.__defaults__ or ())
    # The first default is `api` (aiogram/client/session/base.py); checked, not assumed.
    if not defaults or not isinstance(defaults[0], TelegramAPIServer):
        raise SystemExit("aiogram's BaseSession no longer takes `api` first; update the launcher")
    defaults[0] = server
    BaseSession.__init__.__defaults__ = tuple(defaults)
    path = sys.argv[1]
    sys.argv = [path]
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
