"""A secret kept in the data dir: created once, whole, readable by its owner only.

Both the API's token secret and the broker's credential secret live this way, so the
command line and the running actors agree on them without configuration.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def data_secret(path: Path) -> str:
    """The secret in `path` (64 hex digits: 32 random bytes), made on first use."""
    if not path.exists():
        # Written whole under another name, then linked into place: a process that reads
        # it never sees a half-written secret, and of two racing, one secret wins.
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process's won
            os.link(partial, path)
        partial.unlink()
    return path.read_text().strip()
