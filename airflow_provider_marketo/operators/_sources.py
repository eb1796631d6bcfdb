"""What an import's ``source`` names: one file, or the files of an export (a folder, a prefix or a glob).

:func:`list_files` resolves the source through its ``ObjectStoragePath`` filesystem (any fsspec
filesystem: local, s3, gcs, ...). A folder is listed recursively, a glob is expanded; the files are
sorted by path (lexical order) and what is not data is left out: names starting with ``_`` or ``.``
(Spark's ``_SUCCESS``, hidden files, the ``.marketo/`` manifest folder) and ``.crc`` checksums.
:func:`stage_export` normalises them into one staged file with
:func:`~airflow_provider_marketo.utils.shards.stage_shards`.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.operators._state import TaskLog, info_version
from airflow_provider_marketo.utils.formats import FORMATS, check_format, compression_of, infer_format
from airflow_provider_marketo.utils.parquet import ParquetFile, ParquetOptions, is_parquet, stage_parquet
from airflow_provider_marketo.utils.parts import PartPlan, SourceChangedError
from airflow_provider_marketo.utils.shards import Shard, ShardOptions, Staged, is_utf8, stage_shards

_GLOB = frozenset("*?[")


@dataclass(frozen=True)
class SourceFiles:
    """The files a source names, in import order."""

    source: ObjectStoragePath
    paths: list[str]  #: filesystem paths (no protocol)
    infos: list[Mapping[str, Any]]  #: their fsspec ``info``
    is_set: bool  #: a folder or a glob (else the source is one file)
    ignored: list[str]  #: files left out as not data

    def url(self, path: str) -> str:
        return str(self.source.fs.unstrip_protocol(path))

    @property
    def identity(self) -> tuple[tuple[str, int, str], ...]:
        """``(url, size, version)`` of each file: what the retry manifest compares."""
        infos = [i or _info(self.source, p) for p, i in zip(self.paths, self.infos, strict=True)]
        return tuple(
            (self.url(p), int(i.get("size") or 0), info_version(i))
            for p, i in zip(self.paths, infos, strict=True)
        )


def _info(source: ObjectStoragePath, path: str) -> Mapping[str, Any]:
    try:
        return cast("Mapping[str, Any]", source.fs.info(path))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"The import source {source} does not exist.") from err


def _is_data(relative: str) -> bool:
    parts = [p for p in relative.split("/") if p]
    return bool(parts) and not any(p.startswith(("_", ".")) for p in parts) and not relative.endswith(".crc")


def list_files(source: ObjectStoragePath) -> SourceFiles:
    """The files ``source`` names; a clear error when it names none."""
    fs, path = source.fs, source.path
    fs.invalidate_cache()  # listings are cached per filesystem: a re-listing must see changes
    pattern = any(char in _GLOB for char in path)
    if pattern:
        found = cast("dict[str, Mapping[str, Any]]", fs.glob(path, detail=True))
        base = path[: min(path.find(c) for c in _GLOB if c in path)].rsplit("/", 1)[0]
    elif fs.isdir(path):
        found = cast("dict[str, Mapping[str, Any]]", fs.find(path, detail=True, withdirs=False))
        base = path.rstrip("/")
    else:
        return SourceFiles(source, [path], [{}], False, [])
    files = {p: i for p, i in found.items() if i.get("type", "file") == "file"}
    keep = sorted(p for p in files if _is_data(p[len(base) :] if p.startswith(base) else p.rsplit("/")[-1]))
    ignored = sorted(set(files) - set(keep))
    if not keep:
        what = "matches no file" if pattern else "is a folder with no file"
        extra = f" (left out as not data: {', '.join(ignored[:5])})" if ignored else ""
        raise MarketoConfigError(f"The import source {source} {what} to import{extra}.")
    return SourceFiles(source, keep, [files[p] for p in keep], True, ignored)


@dataclass(frozen=True)
class ReadOptions:
    """How the operator was told to read the source (rendered arguments)."""

    format: str | None
    column_names: tuple[str, ...] | None
    delimiter: str | None
    encoding: str | None
    null_values: tuple[str, ...]

    @classmethod
    def of(
        cls,
        format: str | None,
        column_names: Sequence[str] | None,
        delimiter: str | None,
        encoding: str | None,
        null_values: Sequence[str] | str | None,
    ) -> ReadOptions:
        """Checked options: a clear error for a bad one, before anything is read."""
        if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
            raise MarketoConfigError(
                f"delimiter must be one character (not a quote or line end), got {delimiter!r}."
            )
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise MarketoConfigError(
                    f"Unknown encoding {encoding!r} (a Python codec name, e.g. 'cp1252')."
                ) from None
        nulls = (null_values,) if isinstance(null_values, str) else tuple(null_values or ())
        if not all(isinstance(v, str) for v in nulls):
            raise MarketoConfigError(f"null_values must be strings, got {null_values!r}.")
        names = None if column_names is None else tuple(column_names)
        if names is not None and (not names or not all(isinstance(n, str) for n in names)):
            raise MarketoConfigError(f"column_names must be a non-empty list of names, got {column_names!r}.")
        return cls(format or None, names, delimiter, encoding, nulls)

    @property
    def rewrites(self) -> bool:
        return self.delimiter is not None or bool(self.null_values) or not is_utf8(self.encoding)

    def staged_format(self, files: SourceFiles) -> str:
        """The Marketo format of the staged file (and of the files, unless ``delimiter`` is given)."""
        if self.format:
            return check_format(self.format)
        if self.delimiter is not None:
            return next((fmt for fmt, d in FORMATS.items() if d == self.delimiter), "csv")
        formats = {infer_format(p.rsplit("/", 1)[-1]) for p in files.paths}
        if len(formats) > 1:
            raise MarketoConfigError(
                f"The files of {files.source} have different formats ({', '.join(sorted(formats))}); "
                "pass format=."
            )
        return formats.pop()

    def needs_staging(self, files: SourceFiles) -> bool:
        """Whether the source is imported through a staged copy (else as it is: the fast path)."""
        compressed = compression_of(files.paths[0]) is not None
        return files.is_set or compressed or self.rewrites or bool(self.column_names)


def stage_export(
    files: SourceFiles,
    staged: ObjectStoragePath,
    options: ReadOptions,
    *,
    file_format: str,
    max_part_bytes: int,
    lookup_field: str | None,
    required: Sequence[str],
    log: TaskLog,
) -> Staged:
    """Normalise ``files`` into ``staged`` (one delimited UTF-8 file); check they did not change."""
    fs = files.source.fs
    log.info(
        "Importing %d file(s) of %s, in this order: %s%s.",
        len(files.paths),
        files.source,
        ", ".join(files.url(p) for p in files.paths),
        f" (left out as not data: {', '.join(files.ignored)})" if files.ignored else "",
    )
    shards = [
        Shard(files.url(p), lambda p=p: cast("BinaryIO", fs.open(p, "rb")), compression_of(p))  # type: ignore[misc]
        for p in files.paths
    ]
    shard_options = ShardOptions(
        file_format=file_format,
        max_part_bytes=max_part_bytes,
        column_names=options.column_names,
        delimiter=options.delimiter,
        encoding=options.encoding,
        null_values=options.null_values,
        lookup_field=lookup_field,
        required=tuple(required),
    )
    staged.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("wb") as out:  # type: ignore[no-untyped-call]
        result = stage_shards(shards, cast("BinaryIO", out), shard_options, log, name=str(staged))
    check_unchanged(files)
    log.info(
        "Staged %d data rows of %d file(s) in %s (%d skipped: empty or header-only).",
        result.rows,
        len(result.shard_rows),
        staged,
        len(result.skipped),
    )
    return result


def check_unchanged(files: SourceFiles) -> None:
    """Refuse an export whose files changed while they were read: a retry may find it complete, so
    this error keeps the task's retries (:class:`SourceChangedError`)."""
    if files.is_set and list_files(files.source).identity != files.identity:
        raise SourceChangedError(
            f"The files of {files.source} changed while they were read (a file was added, removed or "
            "rewritten). Import an export once the warehouse has finished writing it."
        )


@dataclass(frozen=True)
class PreparedSource:
    """The file to import and, when it is a staged copy, its format and the export's files."""

    path: ObjectStoragePath
    staged: ObjectStoragePath | None = None
    file_format: str | None = None
    shards: tuple[tuple[str, int, str], ...] | None = None
    #: The staged copy's part plan, made while it was written (None: not staged by this call).
    plan: PartPlan | None = None


def prepare_source(
    source: ObjectStoragePath,
    options: ReadOptions,
    *,
    staged_file: Callable[[], ObjectStoragePath],
    resuming: bool,
    completing: bool = False,
    max_part_bytes: int,
    lookup_field: str | None,
    required: Sequence[str],
    log: TaskLog,
) -> PreparedSource:
    """The source itself (fast path), or its staged copy: written now, or reused by a resume.

    A resume on a worker without the staged copy (another machine, another ``TMPDIR``) writes it
    again from the export, once; the submission then checks it against the manifest (the export's
    files, the plan's parts). A resume that only finishes submitted jobs (``completing``) needs no copy.
    """
    files = list_files(source)
    parquet = parquet_files(files, options)
    if not parquet and not options.needs_staging(files):
        return PreparedSource(source)
    if parquet:
        file_format = check_format(options.format) if options.format else "csv"
    else:
        file_format = options.staged_format(files)
    prepared = PreparedSource(staged_file(), staged_file(), file_format, files.identity)
    if resuming and prepared.path.exists():
        log.info("Resuming with the staged copy %s of %s (not read again).", prepared.path, source)
        return prepared
    if completing:
        log.info("Every part of %s is submitted: finishing without its staged copy.", source)
        return prepared
    if resuming:
        log.info(
            "The staged copy %s is not on this worker (the task deferred on another one): "
            "staging %s again, then checking it against the import manifest.",
            prepared.path,
            source,
        )
    if parquet:
        stage_parquet_export(
            files,
            prepared.path,
            file_format=file_format,
            lookup_field=lookup_field,
            required=required,
            log=log,
        )
        return prepared
    staged = stage_export(
        files,
        prepared.path,
        options,
        file_format=file_format,
        max_part_bytes=max_part_bytes,
        lookup_field=lookup_field,
        required=required,
        log=log,
    )
    return dataclasses.replace(prepared, plan=staged.plan)


def parquet_files(files: SourceFiles, options: ReadOptions) -> bool:
    """Whether the source is a Parquet export (every file ``.parquet``); an error for a mixed one or for
    options that only apply to delimited text."""
    parquet = [p for p in files.paths if is_parquet(p)]
    if not parquet:
        return False
    if len(parquet) != len(files.paths):
        other = next(p for p in files.paths if not is_parquet(p))
        raise MarketoConfigError(
            f"The files of {files.source} mix Parquet and other files ({files.url(other)}); import one kind."
        )
    given = [
        name
        for name, value in (
            ("column_names", options.column_names),
            ("delimiter", options.delimiter),
            ("encoding", options.encoding),
            ("null_values", options.null_values),
        )
        if value
    ]
    if given:
        raise MarketoConfigError(
            f"{', '.join(given)} apply to delimited text; {files.source} is Parquet (its columns, types and "
            "NULLs come from the files)."
        )
    return True


def stage_parquet_export(
    files: SourceFiles,
    staged: ObjectStoragePath,
    *,
    file_format: str,
    lookup_field: str | None,
    required: Sequence[str],
    log: TaskLog,
) -> Staged:
    """Write the rows of a Parquet export to ``staged``; DuckDB reads the files through the source's
    fsspec filesystem (registered with it: no copy; local files directly)."""
    fs = files.source.fs
    local = "file" in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol)
    parquet = [ParquetFile(files.url(p), p if local else files.url(p)) for p in files.paths]
    log.info(
        "Importing %d Parquet file(s) of %s, in this order: %s%s.",
        len(parquet),
        files.source,
        ", ".join(f.name for f in parquet),
        f" (left out as not data: {', '.join(files.ignored)})" if files.ignored else "",
    )
    options = ParquetOptions(file_format=file_format, lookup_field=lookup_field, required=tuple(required))
    staged.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("wb") as out:  # type: ignore[no-untyped-call]
        result = stage_parquet(parquet, cast("BinaryIO", out), options, log, filesystem=None if local else fs)
    check_unchanged(files)
    log.info("Staged %d rows of %d Parquet file(s) in %s.", result.rows, len(parquet), staged)
    return result
