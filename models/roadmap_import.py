"""Roadmap files: what kind of file arrived, and the reason when it can't be read.

parse_roadmap() tells the formats apart by their content (a name can lie), hands the file to
its reader (models/roadmap_formats.py) and refuses what no reader takes.
"""

import codecs
import io
import zipfile
import zlib
from pathlib import PurePath

from models import roadmap_formats
from models.roadmap_formats import CSV_SAMPLE
from models.roadmap_tables import ImportErrorCode, ParsedItem, ParsedRoadmap, RoadmapImportError

__all__ = ["ImportErrorCode", "ParsedItem", "ParsedRoadmap", "RoadmapImportError", "parse_roadmap"]

# Deflate packs sheet XML about 10:1; far more than that is a zip bomb, not a roadmap.
_MAX_UNPACK_RATIO = 30
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})
_OFFICE_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xls", ".ods", ".docx"})


def _has_stream(data: bytes, name: str) -> bool:
    """Whether an OLE file's directory names this stream («WordDocument» in a .doc; a workbook
    has «Workbook»). Directory entries are 128 bytes, sector-aligned, and start with the name,
    so a cell that merely says «WordDocument» doesn't count."""
    needle = (name + "\0").encode("utf-16-le")
    start = data.find(needle)
    while start != -1:
        if start % 128 == 0:
            return True
        start = data.find(needle, start + 1)
    return False


def _parse_zip(data: bytes, filename: str, max_bytes: int, max_rows: int) -> ParsedRoadmap:
    """A zip package: an Excel workbook, a Word document or an OpenDocument spreadsheet."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise RoadmapImportError(ImportErrorCode.CORRUPT) from exc
    names = {info.filename for info in infos}
    if any(info.flag_bits & 0x1 for info in infos):
        raise RoadmapImportError(ImportErrorCode.ENCRYPTED)
    kind = _package_kind(archive, names)
    if kind not in {"xlsx", "docx", "ods"}:
        if PurePath(filename).suffix.lower() in _OFFICE_EXTENSIONS and kind == "zip":
            # A workbook's name on a zip that lost its parts: damaged, not a different format.
            raise RoadmapImportError(ImportErrorCode.CORRUPT)
        raise RoadmapImportError(ImportErrorCode.NOT_SPREADSHEET, format=kind)
    unpacked = sum(info.file_size for info in infos)
    if unpacked > max_bytes * _MAX_UNPACK_RATIO:
        raise RoadmapImportError(ImportErrorCode.TOO_LARGE, unpacked=unpacked)
    if kind == "xlsx":
        return roadmap_formats.read_xlsx(data, archive, filename, max_rows)
    if kind == "docx":
        return roadmap_formats.read_docx(data, filename, max_rows)
    if b"encryption-data" in _member(archive, "META-INF/manifest.xml"):
        raise RoadmapImportError(ImportErrorCode.ENCRYPTED)  # LibreOffice's «Save with password»
    return roadmap_formats.read_calamine(data, "ods", filename, max_rows)


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        with archive.open(name) as source:
            return source.read(1024 * 1024)
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, zlib.error):
        return b""


def _package_kind(archive: zipfile.ZipFile, names: set[str]) -> str:
    """What a zip holds: an Excel workbook, a Word or PowerPoint file, OpenDocument, ..."""
    if "[Content_Types].xml" in names:
        for prefix, kind in (("xl/", "xlsx"), ("word/", "docx"), ("ppt/", "pptx")):
            if any(name.startswith(prefix) for name in names):
                return kind
    if "mimetype" in names:
        mimetype = _member(archive, "mimetype")[:100]
        if b"opendocument.spreadsheet" in mimetype:
            return "ods"
        return "odt" if b"opendocument.text" in mimetype else "odf"
    return "zip"


def parse_roadmap(
    data: bytes, filename: str, *, max_bytes: int = 10 * 1024 * 1024, max_rows: int = 5000
) -> ParsedRoadmap:
    """Read a roadmap table; raises `RoadmapImportError` with a code the bot translates."""
    if len(data) > max_bytes:
        raise RoadmapImportError(ImportErrorCode.TOO_LARGE, size=len(data), max_bytes=max_bytes)
    if not data or data.isspace():
        raise RoadmapImportError(ImportErrorCode.EMPTY)
    if data.startswith(_OLE_MAGIC):
        # An OLE compound file is an OOXML file encrypted with a password (its package sits in
        # an «EncryptedPackage» stream), a legacy Word .doc or a legacy .xls.
        if _ENCRYPTED_PACKAGE in data:
            raise RoadmapImportError(ImportErrorCode.ENCRYPTED)
        if _has_stream(data, "WordDocument"):
            raise RoadmapImportError(ImportErrorCode.NOT_SPREADSHEET, format="doc")
        return roadmap_formats.read_calamine(data, "xls", filename, max_rows)
    if data.startswith(b"PK"):
        return _parse_zip(data, filename, max_bytes, max_rows)
    extension = PurePath(filename).suffix.lower()
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if extension in _TEXT_EXTENSIONS and (utf16 or b"\x00" not in data[:CSV_SAMPLE]):
        return roadmap_formats.read_csv(data, filename, max_rows)
    head = data[:CSV_SAMPLE].lstrip().lower()
    if head.startswith(b"%pdf"):
        kind = "pdf"
    elif head.startswith((b"<html", b"<!doctype html", b"<table")):
        kind = "html"  # web systems export HTML tables named .xls
    else:
        kind = "text" if b"\x00" not in head else "unknown"
        if kind == "unknown" and extension in _OFFICE_EXTENSIONS:
            # Named as a workbook or a Word document but none of them inside: damaged.
            raise RoadmapImportError(ImportErrorCode.CORRUPT)
    raise RoadmapImportError(ImportErrorCode.NOT_SPREADSHEET, format=kind)
