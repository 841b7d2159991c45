"""Every user-facing msgid in the code has a Russian translation with the same placeholders."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import i18n_sync  # noqa: E402  (scripts/ is on mypy's files list, so it is found)

PLACEHOLDER = re.compile(r"\{(\w*)\}")


def test_every_msgid_has_a_russian_translation() -> None:
    with (ROOT / "locales/ru/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="ru")
    missing, broken = [], []
    for message in i18n_sync.extract():
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None or not translated.string:
            missing.append(message.id)
            continue
        assert isinstance(message.id, str) and isinstance(translated.string, str)
        if set(PLACEHOLDER.findall(message.id)) != set(PLACEHOLDER.findall(translated.string)):
            broken.append(message.id)
    assert missing == []
    assert broken == []


def test_catalogs_compile(tmp_path: Path) -> None:
    import shutil

    from bot.i18n import compile_catalogs

    shutil.copytree(ROOT / "locales", tmp_path / "locales", ignore=shutil.ignore_patterns("*.mo"))
    written = compile_catalogs(tmp_path / "locales")
    assert {p.parent.parent.name for p in written} == {"ru", "en"}
