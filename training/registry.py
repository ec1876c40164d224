"""The model registry: versioned models under `<lake>/_models/`, and which one is live.

    <lake>/_models/v0003/model.json        the scorer (actors.rules.anomaly.Model)
    <lake>/_models/v0003/estimators.pkl    the fitted scikit-learn objects it came from
    <lake>/_models/v0003/meta.json         run, user, metrics, data range, rows, params
    <lake>/_models/LIVE                    the promoted version's name

Through `pyarrow.fs`, like the lake, so an `s3://` lake keeps its models beside it.
Files are written to a temporary name and moved, so a reader sees all of one or none.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow.fs as pafs

from core.errors import VigilError

FOLDER = "_models"
LIVE = "LIVE"
VERSION = re.compile(r"^v\d{4,}$")


class RegistryError(VigilError):
    """An unknown version, or a registry file that cannot be read; says which."""


class Registry:
    def __init__(self, lake: str) -> None:
        self.fs, root = pafs.FileSystem.from_uri(_absolute(lake))
        self.root = f"{root}/{FOLDER}"

    def versions(self) -> list[str]:
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        found = [i.base_name for i in self.fs.get_file_info(selector)]
        return sorted(v for v in found if VERSION.match(v))

    def write(self, model_json: bytes, estimators: bytes, meta: dict[str, Any]) -> str:
        """A new version holding the model (whose `version` field is filled in here)."""
        versions = self.versions()
        version = f"v{int(versions[-1][1:]) + 1 if versions else 1:04d}"
        folder = f"{self.root}/{version}"
        self.fs.create_dir(folder, recursive=True)
        document = json.loads(model_json)
        document["version"] = version
        self._put(f"{folder}/model.json", json.dumps(document).encode())
        self._put(f"{folder}/estimators.pkl", estimators)
        self._put(f"{folder}/meta.json", json.dumps({**meta, "version": version}).encode())
        return version

    def meta(self, version: str) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads(self._get(version, "meta.json"))
        return meta | {"live": version == self.live()}

    def payload(self, version: str) -> bytes:
        return self._get(version, "model.json")

    def promote(self, version: str) -> bytes:
        """Make `version` the live model; returns its payload for the shards."""
        payload = self.payload(version)
        self._put(f"{self.root}/{LIVE}", version.encode())
        return payload

    def live(self) -> str | None:
        try:
            with self.fs.open_input_stream(f"{self.root}/{LIVE}") as stream:
                return bytes(stream.read()).decode().strip() or None
        except FileNotFoundError:
            return None

    def live_payload(self) -> bytes | None:
        version = self.live()
        return None if version is None else self.payload(version)

    def _get(self, version: str, name: str) -> bytes:
        if not VERSION.match(version):
            raise RegistryError(f"version: expected v0001, v0002, ..., got {version!r}")
        try:
            with self.fs.open_input_stream(f"{self.root}/{version}/{name}") as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            raise RegistryError(f"version: no model {version!r} in {self.root}") from None

    def _put(self, path: str, data: bytes) -> None:
        tmp = path.rsplit("/", 1)
        temporary = f"{tmp[0]}/.{tmp[1]}.tmp"
        with self.fs.open_output_stream(temporary) as stream:
            stream.write(data)
        self.fs.move(temporary, path)


def _absolute(lake: str) -> str:
    if "://" in lake:
        return lake
    from pathlib import Path

    return str(Path(lake).resolve())
