"""The submission of an import's parts: one object owns the plan, the accepted parts, the wait and
the manifest, and tells the operator what to do next: submit this part, sleep this long, defer on
this trigger, or finish.

The source is read at most twice per task instance, whatever the number of deferrals: once to plan
the parts (:func:`plan_parts` validates the whole file and records each part's byte range, rows and
digest), then each part once by range (:func:`read_part`) when it is submitted. The plan is kept in
the manifest, so a resumed deferral or a retry does not plan again.

How a try treats the manifest left by an earlier one (see the README, "Retries, clears and runs"):

- **resume** (same try, after a deferral): carry on from the manifest's plan, parts and wait.
- **retry** (a new try of the same attempt budget: Airflow retried after a failure or a crash):
  skip every part already accepted, so that each part is imported exactly once.
- **clear** (a new try after the user cleared the task: Airflow raised ``max_tries``): import
  everything again, or with ``keep_completed_on_clear=True`` keep the parts whose jobs are still
  known and did not fail (when the source is unchanged).
- **new run**: the manifest key holds the run, so there is nothing to reuse.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowException, AirflowFailException, AirflowTaskTimeout
from airflow_provider_marketo.backoff import backoff_delay
from airflow_provider_marketo.exceptions import (
    MarketoBatchNotFoundError,
    MarketoError,
    MarketoQueueFullError,
)
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import TERMINAL_STATUSES
from airflow_provider_marketo.operators._manifest import ImportManifest, ManifestError, SubmittedPart
from airflow_provider_marketo.operators._state import (
    KIND_TEXT,
    Defer,
    Done,
    Sleep,
    Step,
    SubmissionConfig,
    Submit,
    TryInfo,
    WaitState,
    accepted_parts,
    check_same_shards,
    fingerprint,
    load_document,
    manifest_location,
    same_source,
)
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger, error_of_event
from airflow_provider_marketo.utils.parts import PartPlan, PlannedPart, plan_parts, read_part

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class Submission:
    """The state of one task instance's import and the rules that say what to do next."""

    def __init__(
        self,
        config: SubmissionConfig,
        source: ObjectStoragePath,
        manifest: ImportManifest,
        tried: TryInfo,
        plan: PartPlan,
        source_fingerprint: dict[str, Any],
        accepted: dict[int, SubmittedPart],
        saved: Mapping[str, Any] | None = None,
    ) -> None:
        """``saved``: the manifest of the try that deferred (its wait and start), None for a new try."""
        self.config = config
        self.source = source
        self.manifest = manifest
        self.tried = tried
        self.plan = plan
        self.fingerprint = source_fingerprint
        self.accepted = accepted
        self.wait = WaitState.from_dict((saved or {}).get("wait", {}))
        self.started_at = float((saved or {}).get("started_at") or time.time())
        self.hook = MarketoHook(config.marketo_conn_id)
        self.log = config.log
        self._manifest_ok = True
        #: The 1016/1019 answer to the last create and its reason, until waited for.
        self._refusal: tuple[MarketoError, str] | None = None

    # Starting and resuming.

    @classmethod
    def begin(
        cls,
        config: SubmissionConfig,
        context: Context,
        source: ObjectStoragePath,
        check_header: Callable[[list[str]], None] | None,
    ) -> Submission:
        """Start a try: reuse what the manifest allows (retry, clear), plan otherwise, record it."""
        tried = TryInfo.of(context, config.retries)
        manifest = ImportManifest(manifest_location(context, config, source, tried.scope), tried.scope)
        document = load_document(manifest)
        current = fingerprint(source, config.shards)
        kind = tried.kind_of(document)
        if kind == "resume":  # a try starts once: what an earlier start of it accepted is kept
            kind = "retry"
        config.log.info("Import manifest: %s (%s).", manifest, KIND_TEXT[kind])
        plan: PartPlan | None = None
        accepted: dict[int, SubmittedPart] = {}
        if document is not None and kind == "retry":
            accepted = accepted_parts(document)
            same = same_source(document, source, current)
            if accepted and not same:
                check_same_shards(document, current, "since an earlier try imported some of its parts")
                plan = cls._same_content(config, source, check_header, accepted)
            if accepted and not same and plan is None:  # issue 22: a retry cannot change it
                raise AirflowFailException(
                    f"The source {source} changed since an earlier try of this task imported "
                    f"{len(accepted)} of its parts (batches {sorted(p.batch_id for p in accepted.values())}). "
                    "A retry imports each part once; clear the task to import the new file from the start."
                )
            if same:
                plan = PartPlan.from_dict(document["plan"])
            for index, part in sorted(accepted.items()):
                config.log.info(
                    "Part %d already imported as batch %d by an earlier try; skipping it.",
                    index + 1,
                    part.batch_id,
                )
        elif document is not None and kind == "clear":
            plan, accepted = cls._kept_on_clear(config, document, source, current)
        if plan is None:
            plan = cls._plan(config, source, check_header)
        submission = cls(config, source, manifest, tried, plan, current, accepted)
        submission._save(first=True)
        return submission

    @classmethod
    def resume(
        cls, config: SubmissionConfig, context: Context, source: ObjectStoragePath, event: Any
    ) -> Submission:
        """Continue the try that deferred, from its manifest, with what the trigger reported."""
        tried = TryInfo.of(context, config.retries)
        manifest = ImportManifest(manifest_location(context, config, source, tried.scope), tried.scope)
        document = load_document(manifest)
        if document is None or tried.kind_of(document) != "resume":
            raise AirflowException(
                f"Cannot resume this import: {manifest} holds no state of try {tried.try_number}. "
                "The manifest must stay in place while the task is deferred."
            )
        plan = PartPlan.from_dict(document["plan"])
        accepted = accepted_parts(document)
        if len(accepted) >= len(plan.parts) and not source.exists():
            # Every part is accepted: nothing is read again (a staged copy left on another worker).
            current, unchanged = dict(document.get("fingerprint") or {}), True
        else:
            current = fingerprint(source, config.shards)
            unchanged = same_source(document, source, current)
        if not unchanged:
            check_same_shards(document, current, "while this task was deferred")
            replanned = cls._same_content(config, source, None, accepted)
            if replanned is None or len(replanned.parts) != len(plan.parts):  # issue 22: final
                raise AirflowFailException(
                    f"The source {source} changed while this task was deferred (it was "
                    f"{document.get('source')} with {document.get('fingerprint')}). "
                    "Do not change an import's source until the task has finished."
                )
            plan = replanned
        submission = cls(config, source, manifest, tried, plan, current, accepted, document)
        submission._apply(event)
        return submission

    @classmethod
    def _same_content(
        cls,
        config: SubmissionConfig,
        source: ObjectStoragePath,
        check_header: Callable[[list[str]], None] | None,
        accepted: Mapping[int, SubmittedPart],
    ) -> PartPlan | None:
        """A new plan of a source whose size or version changed, if its content did not.

        A file written again with the same bytes (a staged query result, a re-run export) gets a new
        modification time: the parts already accepted are read by the new plan and compared with their
        recorded SHA-256. None when any of them differs (the source really changed).
        """
        config.log.info("The source %s has a new size or version: checking its content.", source)
        plan = cls._plan(config, source, check_header)
        with source.open("rb", cache_type="none") as stream:  # type: ignore[no-untyped-call]
            for index, done in accepted.items():
                if index >= len(plan.parts):
                    return None
                data = read_part(cast("BinaryIO", stream), plan, plan.parts[index], source_name=str(source))
                if hashlib.sha256(data).hexdigest() != done.sha256:
                    return None
        config.log.info("Its content is unchanged: the %d accepted part(s) match.", len(accepted))
        return plan

    @staticmethod
    def _plan(
        config: SubmissionConfig, source: ObjectStoragePath, check_header: Callable[[list[str]], None] | None
    ) -> PartPlan:
        how = (config.file_format, config.part_size)
        if config.plan is not None:  # made while the source was staged: not read again
            config.log.info("Planned %s while staging it (%s, parts of at most %d bytes).", source, *how)
            if check_header is not None:
                check_header(config.plan.header)
            return config.plan
        config.log.info("Reading and validating %s (%s) in parts of at most %d bytes.", source, *how)
        with source.open("rb") as stream:  # type: ignore[no-untyped-call]
            plan = plan_parts(
                cast("BinaryIO", stream),
                file_format=config.file_format,
                max_part_bytes=config.part_size,
                lookup_field=config.lookup_column,
                required=config.required_columns,
                check_header=check_header,
                source_name=str(source),
            )
        sizes = (plan.total_bytes, plan.total_rows, len(plan.parts))
        config.log.info("%s: %d bytes, %d data rows, %d part(s) planned.", source, *sizes)
        return plan

    @classmethod
    def _kept_on_clear(
        cls,
        config: SubmissionConfig,
        document: Mapping[str, Any],
        source: ObjectStoragePath,
        current: dict[str, Any],
    ) -> tuple[PartPlan | None, dict[int, SubmittedPart]]:
        """After a clear: nothing by default; with ``keep_completed_on_clear``, the jobs that did not fail."""
        earlier = accepted_parts(document)
        if not config.keep_completed_on_clear or not earlier:
            if earlier:
                config.log.info(
                    "The task was cleared: importing all parts again (keep_completed_on_clear=False)."
                )
            return None, {}
        if not same_source(document, source, current):
            config.log.info(
                "The task was cleared and its source changed since the last try: importing all parts again."
            )
            return None, {}
        hook = MarketoHook(config.marketo_conn_id)
        kept: dict[int, SubmittedPart] = {}
        for index, part in sorted(earlier.items()):
            try:
                status = hook.get_import_status(config.target, part.batch_id)
            except MarketoBatchNotFoundError:
                config.log.info(
                    "Part %d: batch %d is no longer known to Marketo; importing it again.",
                    index + 1,
                    part.batch_id,
                )
                continue
            if status.status == "Failed":
                config.log.info(
                    "Part %d: batch %d failed (%s); importing it again.",
                    index + 1,
                    part.batch_id,
                    status.message,
                )
                continue
            config.log.info("Part %d: keeping batch %d (%s).", index + 1, part.batch_id, status.status)
            kept[index] = part
        return PartPlan.from_dict(document["plan"]), kept

    def _apply(self, event: Any) -> None:
        if not isinstance(event, Mapping):
            self.log.info("Resuming after a timed wait.")
            return
        status, message = event.get("status"), event.get("message")
        if status == "error":
            # issue 22: the class of Marketo's error, so the quota and final errors are handled
            raise error_of_event(event, f"Checking this task's Marketo jobs failed: {message}")
        if status == "failed":
            self.log.warning("Resuming; some of this task's jobs failed: %s", message)
        else:
            self.log.info("Resuming: %s", message)
        self.wait.finished.update(
            int(batch["batch_id"])
            for batch in event.get("batches", [])
            if batch.get("status") in TERMINAL_STATUSES
        )

    # What to do next.

    def next_step(self) -> Step:
        """Submit the next part, wait (sleep or defer), or finish."""
        if self._refusal is not None:
            return self._wait_after_refusal(*self._refusal)
        part = next((p for p in self.plan.parts if p.index not in self.accepted), None)
        if part is None:
            return self._done()
        self.check_time()
        active = self._active_jobs(only_if_full=True)
        if len(active) >= self.config.job_limit:
            reason = (
                f"{len(active)} of this task's jobs are still queued or importing "
                f"(limit {self.config.job_limit}): {active}"
            )
            return self._wait_step(
                self._label(part), reason, jobs=active, max_pending=self.config.job_limit - 1
            )
        return self._submit_step(part)

    def accepted_as(self, step: Submit, batch_id: int) -> None:
        """Marketo accepted ``step``'s part as ``batch_id``: record it (before anything else)."""
        self.log.info(
            "Submitted %s (%s, %d bytes, %d rows) as batch %d.",
            step.label,
            step.filename,
            len(step.data),
            step.part.data_rows,
            batch_id,
        )
        self.accepted[step.part.index] = SubmittedPart(
            step.part.index, step.sha256, step.part.data_rows, batch_id
        )
        self.wait = WaitState(finished=self.wait.finished)
        self._save()

    def refused(self, step: Submit, error: MarketoError) -> None:
        """Marketo answered 1016 (queue full) or 1019 (list busy): wait before trying again."""
        if self.wait.refused_since is None:
            self.wait.refused_since = time.time()
        reason = (
            "Marketo's import queue is full (1016: at most 10 jobs per instance, shared with "
            f"other integrations): {error.marketo_message}"
            if isinstance(error, MarketoQueueFullError)
            else f"another import into the same list is in progress (1019): {error.marketo_message}"
        )
        self._refusal = (error, reason)

    def _submit_step(self, part: PlannedPart) -> Submit:
        with self.source.open("rb", cache_type="none") as stream:  # type: ignore[no-untyped-call]
            data = read_part(cast("BinaryIO", stream), self.plan, part, source_name=str(self.source))
        count = len(self.plan.parts)
        return Submit(
            part=part,
            data=data,
            sha256=part.sha256 or hashlib.sha256(data).hexdigest(),
            filename=f"{self.source.stem}.part-{part.index + 1:04d}-of-{count:04d}.{self.plan.file_format}",
            label=self._label(part),
        )

    def _wait_after_refusal(self, error: MarketoError, reason: str) -> Step:
        self._refusal = None
        part = next(p for p in self.plan.parts if p.index not in self.accepted)
        label = self._label(part)
        assert self.wait.refused_since is not None
        waited = time.time() - self.wait.refused_since
        if waited >= self.config.max_queue_wait:
            raise type(error)(
                f"Gave up submitting {label} after waiting {waited:.1f} s "
                f"(max_queue_wait={self.config.max_queue_wait:g} s): {reason}",
                code=error.code,
                request_id=error.request_id,
            )
        reason = f"{reason} (waited {waited:.1f} of at most {self.config.max_queue_wait:g} s)"
        active = self._active_jobs(only_if_full=False) if self.config.deferrable else []
        # Wake up when one of our own jobs finishes (room for this one), or at the deadline; with
        # none of ours queued, at the deadline only (a timer).
        return self._wait_step(
            label,
            reason,
            jobs=active,
            max_pending=max(len(active) - 1, 0),
            limit=self.config.max_queue_wait - waited,
        )

    def _wait_step(
        self, label: str, reason: str, *, jobs: list[int], max_pending: int, limit: float | None = None
    ) -> Sleep | Defer:
        """Sleep; or defer until at most ``max_pending`` of our ``jobs`` are unfinished, or on a timer
        when there is no job of ours to wait for. ``limit`` caps the pause (the trigger's deadline)."""
        delay = backoff_delay(self.config.poll_interval, self.wait.attempts, self.config.max_delay)
        if limit is not None:
            delay = min(delay, limit)
        self.wait.attempts += 1
        remaining = self.check_time()
        if remaining is not None:
            delay = min(delay, remaining)
        if not self.config.deferrable:
            return Sleep(delay, f"Waiting {delay:.3g} s before submitting {label}: {reason}")
        trigger: BaseTrigger
        if jobs:
            trigger = BulkImportTrigger(
                marketo_conn_id=self.config.marketo_conn_id,
                target=self.config.target.to_dict(),
                batch_ids=jobs,
                poll_interval=self.config.poll_interval,
                max_poll_interval=self.config.max_delay,
                deadline=None if limit is None else time.time() + delay,
                max_pending=max_pending,
            )
        else:
            from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

            trigger = TimeDeltaTrigger(timedelta(seconds=delay))
        self._save(required=True)
        timeout = None if remaining is None else timedelta(seconds=remaining)
        return Defer(trigger, timeout, f"Deferring {label}: {reason}")

    def _done(self) -> Done:
        batch_ids = [self.accepted[p.index].batch_id for p in self.plan.parts]
        rows_sent = {
            str(self.accepted[p.index].batch_id): self.accepted[p.index].rows for p in self.plan.parts
        }
        return Done(batch_ids, rows_sent, self.plan.total_rows)

    def _label(self, part: PlannedPart) -> str:
        return f"part {part.index + 1} of {len(self.plan.parts)}"

    def check_time(self) -> float | None:
        """Seconds ``execution_timeout`` leaves this try (None: no timeout); raise once it is spent."""
        if self.config.execution_timeout is None:
            return None
        remaining = self.config.execution_timeout - (time.time() - self.started_at)
        if remaining <= 0:
            raise AirflowTaskTimeout(
                f"execution_timeout ({self.config.execution_timeout:g} s) passed with "
                f"{len(self.accepted)} of {len(self.plan.parts)} parts submitted (time deferred counts)."
            )
        return remaining

    def _active_jobs(self, *, only_if_full: bool) -> list[int]:
        """Our jobs still queued or importing; asks Marketo only when they could fill ``job_limit``."""
        unknown = [
            p.batch_id
            for p in sorted(self.accepted.values(), key=lambda p: p.index)
            if p.batch_id not in self.wait.finished
        ]
        if only_if_full and len(unknown) < self.config.job_limit:
            return unknown
        active = []
        for batch_id in unknown:
            status = self.hook.get_import_status(self.config.target, batch_id)
            if not status.is_terminal:
                active.append(batch_id)
                continue
            self.wait.finished.add(batch_id)
            if status.status == "Failed":
                self.log.warning("Batch %d failed: %s", status.batch_id, status.message)
            else:
                self.log.info("Batch %d finished: %s", status.batch_id, status.message or status.status)
        return active

    # The manifest.

    def _save(self, *, first: bool = False, required: bool = False) -> None:
        """Write the manifest. The first write fails the task when a retry or a resume needs it."""
        if not self._manifest_ok and not required:
            return
        body = {
            "source": str(self.source),
            "fingerprint": self.fingerprint,
            "plan": self.plan.to_dict(),
            "try_number": self.tried.try_number,
            "max_tries": self.tried.max_tries,
            "started_at": self.started_at,
            "parts": [p.to_dict() for p in sorted(self.accepted.values(), key=lambda p: p.index)],
            "wait": self.wait.to_dict(),
        }
        try:
            self.manifest.save(body)
        except ManifestError as err:
            needed = required or (first and (self.tried.can_retry or self.config.deferrable))
            if needed:
                why = (
                    "a deferred import resumes from it" if self.config.deferrable else "a retry relies on it"
                )
                raise AirflowException(f"{err}. Nothing more is submitted: {why}.") from err
            self.log.warning(
                "%s; if this task runs again, parts already imported could be imported again.", err
            )
            self._manifest_ok = False
