"""Secrets an installation generates for itself once, when its environment does not give them.

A secret written in the source is known to everyone who can read the repository. So outside production (where
settings refuse to start without the real ones) the first process that needs a secret writes a fresh one into a
file under the var folder, readable by its owner alone, and every process after it reads the same one back.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from config.env import ConfigError

logger = logging.getLogger(__name__)


def installation_secret(path: Path, *, generate: Callable[[], bytes], variable: str) -> str:
    """The secret in `path`, generated there (mode 0600) on first use; `variable` is the setting it stands in for.

    Safe when several processes start at once: the first one's secret wins for all.
    """
    try:
        if not path.exists() and _write_once(path, generate()):
            logger.warning(
                "%s is unset: generated a key for this installation; set it in production",
                variable,
                extra={"key_file": str(path)},
            )
        if path.stat().st_mode & 0o077:
            logger.warning("a generated key is readable by others; chmod 600 it", extra={"key_file": str(path)})
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{variable} is unset, and no key for this installation can be kept in {path}") from exc


def _write_once(path: Path, secret: bytes) -> bool:
    """Whether this process wrote `path`: False when another one got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # created with mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secret + b"\n")
            out.flush()
            os.fsync(out.fileno())
        # A link, unlike a rename, fails when the name exists: the first process's secret wins.
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True
