"""Evidence links: found in free text, validated and normalised. Pure functions."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from models.errors import InvalidInput

MAX_URL_LENGTH = 2000
# Telegram's getFile refuses files over 20 MB; such files are kept as a reference only.
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024

_URL_IN_TEXT = re.compile(
    r"(?:(?:https?://)|(?:www\.))[^\s<>«»\"']+",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_HOST = re.compile(r"^(?:[\w-]+\.)+[\w-]{2,}$|^localhost$", re.UNICODE)
_TRAILING = ".,;:!?)]}»\"'…"


def _strip_trailing(url: str) -> str:
    # «см. https://site.ru/page).» — the closing punctuation belongs to the sentence.
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def normalize_link(raw: str) -> str:
    """An absolute http(s) URL with lower-case scheme and host; raises InvalidInput otherwise."""
    text = _strip_trailing(raw.strip())
    if not text:
        raise InvalidInput("link_empty")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidInput("link_too_long", max=MAX_URL_LENGTH)
    scheme_match = _SCHEME.match(text)
    scheme = scheme_match.group(1).lower() if scheme_match else None
    if scheme is not None and scheme not in {"http", "https"}:
        # javascript:, file:, data: and the like are never evidence, and never clickable.
        raise InvalidInput("link_scheme", scheme=scheme)
    if scheme is None:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("link_not_url") from exc
    host = (parts.hostname or "").rstrip(".")
    if not host or not _HOST.match(host) or any(c.isspace() for c in text):
        raise InvalidInput("link_not_url")
    netloc = host.lower()
    if parts.username or parts.password:
        raise InvalidInput("link_not_url")
    if port and (parts.scheme.lower(), port) not in {("http", 80), ("https", 443)}:
        netloc = f"{netloc}:{port}"
    return urlunsplit(
        (parts.scheme.lower(), netloc, parts.path or "", parts.query, parts.fragment)
    )


def links_in_text(text: str) -> list[str]:
    """Valid links written inside free text, normalised, in order, without repeats."""
    found: list[str] = []
    for match in _URL_IN_TEXT.finditer(text or ""):
        try:
            link = normalize_link(match.group(0))
        except InvalidInput:
            continue
        if link not in found:
            found.append(link)
    return found


def parse_links_message(text: str) -> tuple[list[str], list[str]]:
    """Split a message of one or more links into (normalised links, rejected pieces)."""
    links: list[str] = []
    rejected: list[str] = []
    for piece in re.split(r"[\s,;]+", text.strip()):
        if not piece:
            continue
        try:
            link = normalize_link(piece)
        except InvalidInput:
            rejected.append(piece)
            continue
        if link not in links:
            links.append(link)
    return links, rejected
