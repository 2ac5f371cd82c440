"""PDF text layer via pypdf (imported on first use).

    text, title, pages = pdf_to_text(data)   # raises LoadError for encrypted/scanned/broken files
"""

from __future__ import annotations

import io

from ossrag.errors import LoadError

from ._text import clean_text

__all__ = ["pdf_to_text"]


def pdf_to_text(data: bytes) -> tuple[str, str, int]:
    """Text layer of a PDF: (text with pages joined by blank lines, title, page count)."""
    hint = "is it encrypted or a scan without a text layer? (OCR it first, e.g. with ocrmypdf)"
    try:
        import pypdf
    except ImportError as exc:
        raise LoadError(
            "cannot read PDF: pypdf is not installed", hint="pip install pypdf"
        ) from exc
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("cannot read PDF: it is encrypted with a password", hint=hint)
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info = reader.metadata
        title = str(info.title or "").strip() if info else ""
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise LoadError(f"cannot read PDF: {type(exc).__name__}: {exc}", hint=hint) from exc
    text = clean_text("\n\n".join(p for p in pages if p))
    if not text.strip():
        raise LoadError(f"cannot read PDF: no text layer in {len(pages)} page(s)", hint=hint)
    return text + "\n", title, len(pages)
