"""Reading an uploaded PDF or Word file into pages of text, in a child process with hard limits.

Uploads are hostile until proven otherwise: a few kilobytes can inflate to gigabytes, loop forever or
crash a C library. So the parsing itself runs in a separate Python process whose memory and CPU time
are capped with `setrlimit`, and whose wall-clock time the parent enforces by killing its whole process
group. Whatever happens to the child, the caller gets a `ParseResult`, never an exception.

This module imports neither Django nor the parsers at import time: the child runs it as
`python -m casework.parsing` without settings, and the parent needs only the standard library.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODF_PREFIX = "application/vnd.oasis.opendocument."
# Containers whose kind needs more than the first bytes to tell; `sniff_file` narrows them down.
OLE = "application/x-ole-storage"
ZIP = "application/zip"
# Word and Excel wrap password-protected .docx/.xlsx files in an OLE2 container.
ENCRYPTED_OFFICE = "application/x-encrypted-office"
UNKNOWN = "application/octet-stream"

INDEXED = "indexed"
NEEDS_OCR = "needs_ocr"
NEEDS_PASSWORD = "needs_password"  # noqa: S105 - an outcome, not a password
REJECTED = "rejected"

EMPTY = "The file is empty."
NOT_ACCEPTED = "The file is not a PDF or Word document."
DAMAGED = "The file is damaged and cannot be read."
TOO_LONG = "Reading the file took too long."
TOO_BIG = "The file needs more memory to read than allowed; it may be malformed."
NO_PAGES = "The PDF has no pages."
NO_TEXT_DOCX = "The Word document has no text; if it holds scanned pages, upload them as a PDF."
PASSWORD_MISSING = "The PDF is password-protected; enter its password to read it."  # noqa: S105
PASSWORD_WRONG = "The password does not open this PDF."  # noqa: S105
UNSUPPORTED_ENCRYPTION = "The PDF uses an encryption this system cannot open; upload an unlocked copy."

_REJECTED_TYPES = {
    DOC: "Legacy Word (.doc) files are not accepted; save it as .docx or PDF.",
    XLS: "Excel spreadsheets (.xls) are not accepted; save it as PDF.",
    PPT: "PowerPoint files (.ppt) are not accepted; save it as PDF.",
    OLE: "Legacy Office files (.doc, .xls, .ppt) are not accepted; save it as .docx or PDF.",
    ENCRYPTED_OFFICE: "The Office file is password-protected; remove the password and upload it again.",
    XLSX: "Excel spreadsheets (.xlsx) are not accepted; save it as PDF.",
    PPTX: "PowerPoint files (.pptx) are not accepted; save it as PDF.",
    ODT: "OpenDocument text (.odt) files are not accepted; save it as .docx or PDF.",
}
_ODF_REASON = "OpenDocument files (.odt, .ods, .odp) are not accepted; save it as PDF."

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Stream names in an OLE2 directory are UTF-16LE; the first match decides, so encryption comes first.
_OLE_STREAMS = (
    ("EncryptedPackage", ENCRYPTED_OFFICE),
    ("WordDocument", DOC),
    ("Workbook", XLS),
    ("Book", XLS),
    ("PowerPoint Document", PPT),
)
_CHUNK = 1024 * 1024
# The longest OpenDocument mimetype is 56 bytes; an entry longer than this is not one.
_MAX_MIMETYPE_BYTES = 100

# A page with fewer visible characters than this is an image (or a stray page number) that needs OCR.
_MIN_TEXT_CHARS = 3
# Word files have no fixed pages; about a printed page of text keeps search hits and citations precise.
_DOCX_PAGE_CHARS = 3000
# A dense printed page holds about 10,000 characters; far more means a generated or malformed stream.
_MAX_PAGE_CHARS = 200_000
# Tesseract cannot read text in an image smaller than this (the tiny images are icons and bullets).
_MIN_OCR_PIXELS = 32 * 32
# Each image costs a tesseract run; a page tiled into hundreds of pieces is not a scan.
_MAX_OCR_IMAGES_PER_PAGE = 20
_EXIT_MEMORY = 70


@dataclass(frozen=True)
class ParsedPage:
    number: int
    text: str
    ocr: bool


@dataclass(frozen=True)
class ParseResult:
    outcome: str
    pages: tuple[ParsedPage, ...]
    reason: str
    content_type: str


def sniff(head: bytes) -> str | None:
    """The content type from the first bytes (at least 1 KiB when the file has it), never the name.

    ZIP and OLE2 containers come back as `ZIP`/`OLE` unless the head alone tells them apart;
    `sniff_file` reads their directories.
    """
    if head.startswith(_OLE_MAGIC):
        return _ole_kind(head) or OLE
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _odf_kind_from_head(head) or ZIP
    # The PDF header may be preceded by a little junk; readers accept it within the first 1 KiB.
    if b"%PDF-" in head[:1024]:
        return PDF
    return None


def sniff_file(path: Path) -> str | None:
    """Like `sniff`, but reads a container's directory to tell a .docx from an .xlsx or a .doc from an .xls."""
    with path.open("rb") as stream:
        return sniff_stream(stream)


def sniff_stream(stream: IO[bytes]) -> str | None:
    """`sniff_file` for a seekable binary stream, such as an upload held in memory (it is read from the start)."""
    stream.seek(0)
    content_type = sniff(stream.read(1024))
    if content_type == OLE:
        return _ole_kind_from_stream(stream) or OLE
    if content_type == ZIP:
        return _zip_kind(stream)
    return content_type


def rejection_reason(content_type: str | None) -> str | None:
    """Why a file of this type is refused, written for a paralegal; None when it is accepted."""
    if content_type in (PDF, DOCX):
        return None
    if content_type in _REJECTED_TYPES:
        return _REJECTED_TYPES[content_type]
    if content_type is not None and content_type.startswith(ODF_PREFIX):
        return _ODF_REASON
    return NOT_ACCEPTED


def parse_file(
    path: Path,
    *,
    max_pages: int,
    password: str | None = None,
    timeout_s: float = 60,
    memory_mb: int = 1024,
    ocr: bool = True,
) -> ParseResult:
    """Read the file's pages in a child process limited to `memory_mb` of address space and `timeout_s`.

    OCR runs on pages without text when `ocr` is set and `tesseract` is on PATH. Raises OSError only
    when the file cannot be opened at all, which is a fault of storage rather than of the file.
    """
    started = time.monotonic()
    result, ending = _parse_file(
        path, max_pages=max_pages, password=password, timeout_s=timeout_s, memory_mb=memory_mb, ocr=ocr
    )
    logger.info(
        "file parsed",
        extra={
            "outcome": result.outcome,
            "content_type": result.content_type,
            "pages": len(result.pages),
            "ocr_pages": sum(1 for page in result.pages if page.ocr),
            "ending": ending,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return result


def reason_for_exit(exit_code: int) -> str:
    """Why a child that printed no result died, from its exit status."""
    if exit_code == _EXIT_MEMORY:
        return TOO_BIG
    if exit_code == -signal.SIGXCPU:
        return TOO_LONG
    # With RLIMIT_CPU ending runaway loops first, a SIGKILL nobody here sent comes from the kernel's
    # out-of-memory killer.
    if exit_code == -signal.SIGKILL:
        return TOO_BIG
    return DAMAGED


def _parse_file(
    path: Path, *, max_pages: int, password: str | None, timeout_s: float, memory_mb: int, ocr: bool
) -> tuple[ParseResult, str]:
    if path.stat().st_size == 0:
        return _rejected(EMPTY, UNKNOWN), "sniffed"
    content_type = sniff_file(path) or UNKNOWN
    reason = rejection_reason(content_type)
    if reason is not None:
        return _rejected(reason, content_type), "sniffed"
    request = {
        "path": str(path.resolve()),
        "content_type": content_type,
        "max_pages": max_pages,
        "password": password,
        "tesseract": shutil.which("tesseract") if ocr else None,
        "timeout_s": timeout_s,
    }
    return _run_child(request, timeout_s=timeout_s, memory_mb=memory_mb)


def _rejected(reason: str, content_type: str) -> ParseResult:
    return ParseResult(outcome=REJECTED, pages=(), reason=reason, content_type=content_type)


def _run_child(request: dict[str, Any], *, timeout_s: float, memory_mb: int) -> tuple[ParseResult, str]:
    """The child's result and, for the log, how it ended: an exit status or the name of what it raised."""
    content_type = str(request["content_type"])
    # CPU seconds can only be fewer than wall seconds for this single-threaded child, so the parent's
    # clock normally fires first; the rlimit still stops the child if the parent itself is killed.
    cpu_s = math.ceil(timeout_s) + 1
    with tempfile.TemporaryDirectory(prefix="affiant-parse-") as workdir, tempfile.TemporaryFile() as out:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "TMPDIR": workdir,
            # Tesseract starts a thread per core by default; pages are many, cores are two.
            "OMP_THREAD_LIMIT": "1",
        }
        if "TESSDATA_PREFIX" in os.environ:
            env["TESSDATA_PREFIX"] = os.environ["TESSDATA_PREFIX"]
        # The minimal environment keeps the database URL and cloud keys away from code reading hostile
        # input. The result comes back in a file rather than a pipe, so no buffer fills and blocks.
        process = subprocess.Popen(
            [sys.executable, "-m", "casework.parsing", str(memory_mb), str(cpu_s)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
        try:
            process.communicate(json.dumps(request).encode(), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.kill()
            process.wait()
            return _rejected(TOO_LONG, content_type), "timeout"
        finally:
            if process.returncode is None:
                _kill_group(process.pid)
                process.kill()
                process.wait()
        # A grandchild (tesseract) may outlive a child killed by its own rlimit.
        _kill_group(process.pid)
        if process.returncode != 0:
            return _rejected(reason_for_exit(process.returncode), content_type), f"exit {process.returncode}"
        out.seek(0)
        try:
            data = json.loads(out.read())
            pages = tuple(ParsedPage(number=int(n), text=str(t), ocr=bool(o)) for n, t, o in data["pages"])
            result = ParseResult(
                outcome=str(data["outcome"]), pages=pages, reason=str(data["reason"]), content_type=content_type
            )
            return result, str(data.get("error", "exit 0"))
        except (ValueError, KeyError, TypeError):
            return _rejected(DAMAGED, content_type), "unreadable result"


def _kill_group(pgid: int) -> None:
    """Kill the child and whatever it started: they share the group the child leads."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _ole_kind(data: bytes) -> str | None:
    for name, content_type in _OLE_STREAMS:
        if name.encode("utf-16-le") + b"\x00\x00" in data:
            return content_type
    return None


def _ole_kind_from_stream(stream: Any) -> str | None:
    """Scan the whole container for stream names: its directory sectors may lie anywhere in it."""
    stream.seek(0)
    tail = b""
    while chunk := stream.read(_CHUNK):
        found = _ole_kind(tail + chunk)
        if found is not None:
            return found
        tail = chunk[-64:]
    return None


def _odf_kind_from_head(head: bytes) -> str | None:
    # ODF stores an uncompressed "mimetype" entry first precisely so that its type can be read here.
    name_length = int.from_bytes(head[26:28], "little")
    extra_length = int.from_bytes(head[28:30], "little")
    if head[30 : 30 + name_length] != b"mimetype":
        return None
    start = 30 + name_length + extra_length
    mimetype = head[start : start + 100].split(b"PK", 1)[0].decode("ascii", "replace").strip()
    return mimetype if mimetype.startswith(ODF_PREFIX) else None


def _zip_kind(source: IO[bytes]) -> str:
    try:
        source.seek(0)
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
            if "word/document.xml" in names:
                return DOCX
            if any(name.startswith("xl/") for name in names):
                return XLSX
            if any(name.startswith("ppt/") for name in names):
                return PPTX
            if "mimetype" in names:
                head = _member_head(archive, "mimetype", limit=_MAX_MIMETYPE_BYTES + 1)
                mimetype = head.decode("ascii", "replace").strip()
                if len(head) <= _MAX_MIMETYPE_BYTES and mimetype.startswith(ODF_PREFIX):
                    return mimetype
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        pass
    return ZIP


def _member_head(archive: zipfile.ZipFile, name: str, *, limit: int) -> bytes:
    """At most `limit` bytes of a member, whatever size the archive declares for it: this runs in the web
    process or the worker, outside the limited child, and a forged directory can say 40 bytes of a member
    that inflates to gigabytes.

    zipfile's `read(n)` inflates a deflated member a few KiB at a time, but hands a bzip2 or LZMA member's
    compressed bytes to its decompressor whole, so members compressed any other way are not read at all.
    """
    info = archive.getinfo(name)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return b""
    with archive.open(info) as member:
        return member.read(limit)


# ---- Everything below runs in the child process. ----


def _child_main(argv: list[str]) -> None:
    memory_mb, cpu_s = int(argv[0]), int(argv[1])
    # A core dump of this process would leave the case file's text on disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    # pypdf warns once per broken object, which on a damaged file is thousands of lines nobody reads.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        request = json.loads(sys.stdin.buffer.read())
        result = _parse(request)
        sys.stdout.buffer.write(json.dumps(result, ensure_ascii=False).encode())
        sys.stdout.flush()
    except MemoryError:
        # Handling the error could itself need memory; the exit status says enough.
        os._exit(_EXIT_MEMORY)


def _parse(request: dict[str, Any]) -> dict[str, Any]:
    from pypdf.errors import LimitReachedError

    deadline = time.monotonic() + float(request["timeout_s"])
    try:
        if request["content_type"] == DOCX:
            return _parse_docx(Path(request["path"]), max_pages=int(request["max_pages"]))
        return _parse_pdf(request, deadline=deadline)
    except LimitReachedError as exc:
        # pypdf's safety limits: sizes (decompression, token and element counts) mean the file would need
        # more memory than allowed; reference loops mean it is malformed.
        message = str(exc).lower()
        return _child_rejected(DAMAGED if "cycl" in message or "loop" in message else TOO_BIG)
    except MemoryError:
        raise
    except Exception as exc:  # every parser raises its own zoo of types on a broken file
        # The type's name goes back for the log; its message might quote the document.
        return _child_rejected(DAMAGED) | {"error": type(exc).__name__}


def _child_rejected(reason: str) -> dict[str, Any]:
    return {"outcome": REJECTED, "pages": [], "reason": reason}


def _parse_pdf(request: dict[str, Any], *, deadline: float) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, LimitReachedError

    reader = PdfReader(request["path"], strict=False)
    if reader.is_encrypted:
        password: str | None = request["password"]
        try:
            # Many "protected" PDFs only restrict printing and open with the empty password.
            unlocked = bool(reader.decrypt("")) or (password is not None and bool(reader.decrypt(password)))
        except (NotImplementedError, DependencyError):
            return _child_rejected(UNSUPPORTED_ENCRYPTION)
        if not unlocked:
            reason = PASSWORD_MISSING if password is None else PASSWORD_WRONG
            return {"outcome": NEEDS_PASSWORD, "pages": [], "reason": reason}
    total = len(reader.pages)
    if total == 0:
        return _child_rejected(NO_PAGES)
    max_pages = int(request["max_pages"])
    if total > max_pages:
        return _child_rejected(f"The PDF has {total} pages; the limit is {max_pages}.")
    tesseract: str | None = request["tesseract"]
    pages: list[list[Any]] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = _clean(page.extract_text() or "")
        except (LimitReachedError, MemoryError):
            raise
        except Exception:  # one odd page must not sink the file; it becomes a page for OCR
            text = ""
        if len(text) > _MAX_PAGE_CHARS:
            return _child_rejected(f"Page {number} holds far more text than a printed page; the file may be malformed.")
        ocr = False
        if not _has_text(text):
            text = ""
            if tesseract is not None:
                text = _clean(_ocr_page(page, tesseract=tesseract, deadline=deadline))[:_MAX_PAGE_CHARS]
                ocr = _has_text(text)
                text = text if ocr else ""
        pages.append([number, text, ocr])
    outcome = INDEXED if all(text for _, text, _ in pages) else NEEDS_OCR
    return {"outcome": outcome, "pages": pages, "reason": ""}


def _ocr_page(page: Any, *, tesseract: str, deadline: float) -> str:
    from pypdf.errors import LimitReachedError

    texts: list[str] = []
    try:
        for index, image_file in enumerate(page.images):
            if index >= _MAX_OCR_IMAGES_PER_PAGE:
                break
            image = image_file.image
            if image is None or image.width * image.height < _MIN_OCR_PIXELS:
                continue
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
                image = image.convert("RGB")  # PNG cannot hold CMYK, which scanners sometimes emit
            with tempfile.NamedTemporaryFile(suffix=".png") as png:
                image.save(png, format="PNG")
                png.flush()
                remaining = deadline - time.monotonic()
                if remaining < 1:
                    break
                done = subprocess.run(
                    [tesseract, png.name, "stdout"],
                    capture_output=True,
                    timeout=remaining,
                    check=False,
                )
            if done.returncode == 0:
                texts.append(done.stdout.decode("utf-8", "replace"))
    except (LimitReachedError, MemoryError):
        raise
    except Exception:  # an image pypdf or Pillow cannot decode, or tesseract overrunning: keep what we have
        return "\n".join(texts)
    return "\n".join(texts)


def _parse_docx(path: Path, *, max_pages: int) -> dict[str, Any]:
    import docx  # lxml is loaded only for Word files
    from docx.oxml.ns import qn
    from docx.table import Table

    document = docx.Document(str(path))
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            # Read the XML cells rather than `row.cells`, which repeats merged cells; nested tables
            # come along flattened into their cell.
            rows = [
                " | ".join("\n".join(p.text for p in tc.iter(qn("w:p"))).strip() for tc in tr.tc_lst)
                for tr in item._tbl.tr_lst
            ]
            blocks.extend(rows)
        else:
            blocks.append(item.text)
    texts = _pack([_clean(block).strip() for block in blocks], limit=_DOCX_PAGE_CHARS)
    if not texts:
        return _child_rejected(NO_TEXT_DOCX)
    if len(texts) > max_pages:
        return _child_rejected(f"The Word document is about {len(texts)} pages long; the limit is {max_pages}.")
    pages = [[number, text, False] for number, text in enumerate(texts, start=1)]
    return {"outcome": INDEXED, "pages": pages, "reason": ""}


def _pack(blocks: list[str], *, limit: int) -> list[str]:
    """Join paragraphs into pages of at most `limit` characters, splitting only an overlong paragraph."""
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for block in blocks:
        for piece in _split_long(block, limit=limit):
            if current and size + len(piece) > limit:
                pages.append("\n".join(current))
                current, size = [], 0
            current.append(piece)
            size += len(piece) + 1
    if current:
        pages.append("\n".join(current))
    return pages


def _split_long(block: str, *, limit: int) -> list[str]:
    pieces: list[str] = []
    while len(block) > limit:
        cut = block.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(block[:cut])
        block = block[cut:].lstrip()
    if block:
        pieces.append(block)
    return pieces


def _has_text(text: str) -> bool:
    return len("".join(text.split())) >= _MIN_TEXT_CHARS


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and UTF-8 cannot hold the lone surrogates broken fonts produce.
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


if __name__ == "__main__":
    _child_main(sys.argv[1:])
