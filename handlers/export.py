"""Feature module under construction; its router is already wired."""

from aiogram import Router


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    return Router(name=__name__)
