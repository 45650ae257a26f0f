"""The plugin configuration file: read it, and notice when its content changes (polling)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass
class ConfigFile:
    """Changes are seen by the content's hash, read at every poll: the file is small, and
    mtime alone misses two same-sized writes within one clock tick."""

    path: str
    digest: str = ""

    def read(self) -> tuple[bytes, str]:
        """The file's content and hash, remembered as the current version."""
        with open(self.path, "rb") as f:
            data = f.read()
        self.digest = hashlib.sha256(data).hexdigest()
        return data, self.digest

    def changed(self) -> bytes | None:
        """The new content if it differs from the last read, else None (OSError: unreadable,
        the caller keeps the running configuration and logs)."""
        previous = self.digest
        data, digest = self.read()
        return None if digest == previous else data
