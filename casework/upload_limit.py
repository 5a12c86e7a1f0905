"""The upload size limit, held while the request is read rather than after it has been stored.

AFFIANT_MAX_UPLOAD_BYTES is enforced twice before any view sees a file: a request whose declared length
is over the limit plus room for the form around the file is refused unread
(config.middleware.RequestBodyLimitMiddleware), and CappedUploadHandler, first of FILE_UPLOAD_HANDLERS,
stops reading at the first file that grows past the limit, so the memory and temporary-file handlers
after it never hold more than the limit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

# Room for the multipart framing and the form's other fields (the CSRF token) around the file itself.
# A request longer than the limit plus this cannot hold a file within the limit, so it is refused unread.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024


def too_large_message(name: str | None = None) -> str:
    limit = settings.AFFIANT_MAX_UPLOAD_BYTES
    message = f"The file is larger than the limit of {limit // (1024 * 1024)} MB."
    return f"{name}: {message}" if name else message


def body_certainly_too_large(request: HttpRequest) -> bool:
    """The request says it is longer than any acceptable upload could make it (read from the headers only)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False  # Django refuses a malformed length itself
    return length > settings.AFFIANT_MAX_UPLOAD_BYTES + MULTIPART_ALLOWANCE_BYTES


class CappedUploadHandler(FileUploadHandler):
    """Passes each file's bytes on to the next handler until one file passes AFFIANT_MAX_UPLOAD_BYTES.

    Then it stops the upload: the rest of the body (at most MULTIPART_ALLOWANCE_BYTES, since longer
    requests never get here) is read and dropped, the partial file is closed and deleted by the
    handler that held it, and the file is missing from request.FILES. `over_limit` names it.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit: int = settings.AFFIANT_MAX_UPLOAD_BYTES
        self.received = 0
        self.over_limit: str | None = None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received = start + len(raw_data)
        if self.received > self.limit:
            self.over_limit = self.file_name or "upload"
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the uploaded file


def file_over_limit(request: HttpRequest) -> str | None:
    """The name of the file this request's upload stopped at for being over the limit, or None.

    Reads the request's files first, if nothing has yet.
    """
    request.FILES  # noqa: B018 - parsing the body is what runs the handlers
    for handler in request.upload_handlers:
        if isinstance(handler, CappedUploadHandler) and handler.over_limit is not None:
            return handler.over_limit
    return None
