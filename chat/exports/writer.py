"""The files of an export: parts written step by step into a work folder (so
that a worker that dies loses at most one step), then one ZIP.

    MEDIA_ROOT/exports/work/<job id>/parts/00001.json   a step's items
    MEDIA_ROOT/exports/work/<job id>/files/…            attachments copied
    MEDIA_ROOT/exports/<job id>.zip                      the result
"""

import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings


def exports_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "exports"


def result_path(name: str) -> Path:
    """The file of a finished export, from the ``file`` of its job's result."""
    return exports_dir() / Path(name).name


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class ExportWriter:
    def __init__(self, job_id):
        self.job_id = str(job_id)
        self.work = exports_dir() / "work" / self.job_id
        (self.work / "parts").mkdir(parents=True, exist_ok=True)
        (self.work / "files").mkdir(parents=True, exist_ok=True)

    def write_part(self, number: int, items: list) -> None:
        """Step ``number``'s items, whole or not at all (a rename)."""
        target = self.work / "parts" / f"{number:05d}.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(_json(items), encoding="utf-8")
        os.replace(temporary, target)

    def parts(self, count: int) -> Iterator[list]:
        for number in range(1, count + 1):
            yield json.loads((self.work / "parts" / f"{number:05d}.json").read_text(encoding="utf-8"))

    def copy_file(self, source, name: str) -> None:
        """An attachment into the export (``name``: its path inside the ZIP, under files/)."""
        target = self.work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as data, open(target, "wb") as out:
            shutil.copyfileobj(data, out, 1024 * 1024)

    def assemble(
        self,
        *,
        json_name: str,
        head: dict,
        list_key: str,
        parts: int,
        html: Callable[[Iterator[list]], Iterator[str]] | None = None,
    ) -> tuple[str, int]:
        """The ZIP: ``json_name`` (``head`` with the parts' items under
        ``list_key``, streamed), ``index.html`` when ``html`` renders the parts,
        and the copied files. Returns (the result's file name, its size)."""
        exports_dir().mkdir(parents=True, exist_ok=True)
        name = f"{self.job_id}.zip"
        target = exports_dir() / name
        temporary = target.with_suffix(".tmp")
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            with archive.open(json_name, "w", force_zip64=True) as out:
                opening = _json({**head, list_key: []})
                out.write(opening[: opening.rindex("[") + 1].encode())
                first = True
                for items in self.parts(parts):
                    for item in items:
                        out.write(((b"" if first else b",") + _json(item).encode()))
                        first = False
                out.write(b"]}")
            if html is not None:
                with archive.open("index.html", "w", force_zip64=True) as out:
                    for chunk in html(self.parts(parts)):
                        out.write(chunk.encode())
            files = self.work / "files"
            for path in sorted(files.rglob("*")):
                if path.is_file():
                    archive.write(path, arcname=str(path.relative_to(self.work)))
        os.replace(temporary, target)
        return name, target.stat().st_size

    def discard(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    @staticmethod
    def discard_work(job_id) -> None:
        """The work folder of a job that will not go on (failed, cancelled)."""
        shutil.rmtree(exports_dir() / "work" / str(job_id), ignore_errors=True)
