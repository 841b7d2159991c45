"""The documents schools, curators and municipalities file today, generated as .docx (issue 20).

* ``build.build_document`` — one document for some schools and a period, as bytes;
* ``school_report``, ``activities``, ``municipal``, ``note`` — the four documents: facts in,
  blocks out; ``facts`` reads the database, ``docx`` writes WordprocessingML;
* ``templates/*.toml`` — the wording and layout (Russian official documents), loaded at run time.

No Telegram here. Importing the package is cheap (the CLI's ``--help`` imports it).
"""

from exports.documents.kinds import DocumentKind

__all__ = ["DocumentKind"]
