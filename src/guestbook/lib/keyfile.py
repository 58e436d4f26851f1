"""A random secret kept in a file, made once however many processes start at once."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def kept_secret(path: Path) -> str:
    """The hex secret in `path`, made (mode 0600) if there is none yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        draft.write_text(secrets.token_hex(32))
        draft.chmod(0o600)
        # link() is atomic and fails if the file exists: of two workers starting at
        # once, one key wins and both read it.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()
