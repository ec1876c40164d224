"""Checkpoints: one small blob per shard, kept beside the lake through `pyarrow.fs`.

A checkpoint is written to a temporary name and moved into place, so a reader sees the
old one or the new one, never half of either (a local rename; on object stores a
single PUT is atomic already). `<lake>/_checkpoints/<name>.ckpt`.
"""

from __future__ import annotations

import uuid

import pyarrow.fs as pafs

FOLDER = "_checkpoints"


class Checkpoints:
    def __init__(self, lake_uri: str) -> None:
        self.fs, root = pafs.FileSystem.from_uri(lake_uri)
        self.folder = f"{root.rstrip('/')}/{FOLDER}"

    def save(self, name: str, data: bytes) -> None:
        self.fs.create_dir(self.folder, recursive=True)
        tmp = f"{self.folder}/.{name}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(tmp) as out:
            out.write(data)
        self.fs.move(tmp, self._path(name))

    def load(self, name: str) -> bytes | None:
        """The last checkpoint saved under `name`, None when there is none."""
        try:
            with self.fs.open_input_stream(self._path(name)) as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            return None

    def _path(self, name: str) -> str:
        return f"{self.folder}/{name}.ckpt"
