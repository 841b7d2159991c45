"""Feature routers. main.py and the tests wire the bot through get_routers() alike."""

from aiogram import Router

from handlers import (
    admin,
    common,
    diagnostics,
    documents,
    errors,
    export,
    fallback,
    report,
    review,
    roadmap,
    start,
    status,
    surveys,
)


def get_routers() -> list[Router]:
    """Fresh routers in order: errors and /cancel first, the catch-all fallback last."""
    return [
        errors.create_router(),
        common.create_router(),
        start.create_router(),
        admin.create_router(),
        report.create_router(),
        review.create_router(),
        status.create_router(),
        export.create_router(),
        diagnostics.create_router(),
        roadmap.create_router(),
        surveys.create_router(),
        # After every command router: a command typed during the form is that command.
        documents.create_router(),
        fallback.create_router(),
    ]
