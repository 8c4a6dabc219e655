"""Files inside a Debian package archive (``.deb``), read without installing it or calling dpkg.

Usage::

    from illusion_torch.data.debian import deb_files
    for name, blob in deb_files(Path("openclipart-png_0.18.deb"), suffix=".png"):
        ...                                   # name: the path the package would install, blob: its bytes

A ``.deb`` is an ``ar`` archive whose ``data.tar.*`` member holds the installed tree; ``apt-get download``
fetches one without root and without its dependencies.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import IllusionError

__all__ = ["deb_files"]

_AR_MAGIC = b"!<arch>\n"


def _data_member(path: Path) -> tuple[str, bytes]:
    with open(path, "rb") as f:
        if f.read(8) != _AR_MAGIC:
            raise IllusionError(f"{path} is not a Debian package (.deb); fetch it again with `make data`")
        while header := f.read(60):
            if len(header) < 60:
                break
            try:
                name = header[:16].decode().strip().rstrip("/")
                size = int(header[48:58].decode().strip())
            except (UnicodeDecodeError, ValueError):
                break                               # a damaged header: reported below
            body = f.read(size)
            f.read(size % 2)                        # members are 2-byte aligned
            if name.startswith("data.tar"):
                return name, body
    raise IllusionError(f"{path} has no data.tar member; it is truncated: fetch it again with `make data`")


def deb_files(path: Path, suffix: str = "") -> Iterator[tuple[str, bytes]]:
    """(installed path, bytes) of every regular file in the package whose name ends with ``suffix``,
    in archive order."""
    name, body = _data_member(path)
    if name.endswith(".zst"):
        raise IllusionError(f"{path} packs its files as zstd ({name}), which Python cannot read; unpack it with "
                            f"`dpkg-deb -x {path} DIR`")
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(suffix):
                    blob = tar.extractfile(member)
                    if blob is not None:
                        yield member.name.lstrip("."), blob.read()
    except (tarfile.TarError, EOFError, OSError) as e:      # xz/tar stream cut short or corrupt
        raise IllusionError(f"{path} is damaged ({type(e).__name__}: {e}); delete it and run `make data`") from None
