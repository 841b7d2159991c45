"""Developer tool: extract msgids from the code and merge them into locales/*/messages.po.

    python scripts/i18n_sync.py            # add new msgids (empty translations), drop none
    python scripts/i18n_sync.py --check    # exit 1 if a msgid lacks a Russian translation

New Russian translations are then written into locales/ru/LC_MESSAGES/messages.po by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("bot", "handlers", "exports", "models")
KEYWORDS = {"_": None, "__": None, "lazy_gettext": None, "ngettext": (1, 2)}


def extract() -> Catalog:
    catalog = Catalog(project="school-reports-bot")
    for folder in SOURCES:
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=("i18n:",)
        ):
            catalog.add(message, locations=[(f"{folder}/{filename}", lineno)], context=context)
    return catalog


def catalog_path(locale: str) -> Path:
    return ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    path = catalog_path(locale)
    if not path.exists():
        return Catalog(locale=locale)
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    template = extract()
    missing = []
    for locale in ("ru", "en"):
        catalog = load(locale)
        for message in template:
            if not message.id:
                continue
            existing = catalog.get(message.id, context=message.context)
            if existing is None:
                catalog.add(message.id, "", context=message.context)
                existing = catalog.get(message.id, context=message.context)
                assert existing is not None  # just added
            if locale == "ru" and not existing.string:
                missing.append(message.id)
        if not args.check:
            path = catalog_path(locale)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                write_po(
                    handle,
                    catalog,
                    omit_header=False,
                    sort_output=True,
                    width=99,
                    no_location=True,
                )
    if missing:
        print(f"{len(missing)} msgid(s) without a Russian translation:", file=sys.stderr)
        for item in missing:
            print(f"  {item!r}", file=sys.stderr)
        return 1 if args.check else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
