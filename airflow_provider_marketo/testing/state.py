"""Everything the simulator remembers, behind one lock: clock, tokens, limits, jobs, data, counters."""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

from airflow_provider_marketo.testing.config import SimulatorConfig
from airflow_provider_marketo.testing.describe import (
    describe_custom_object,
    describe_leads,
    describe_program_members,
)
from airflow_provider_marketo.testing.envelope import ApiError
from airflow_provider_marketo.testing.faults import Fault
from airflow_provider_marketo.testing.imports import prepare_import
from airflow_provider_marketo.testing.jobs import ImportQueue, Job
from airflow_provider_marketo.testing.lists import ListMemberships
from airflow_provider_marketo.testing.store import DataStore

QUOTA_ZONE = ZoneInfo("America/Chicago")
_SECRET_PARAMS = re.compile(r"((?:^|&)(?:client_secret|access_token)=)[^&]*")


@dataclass
class Token:
    value: str
    client_id: str
    expires_at: float
    expiry_reported: bool = False


class SimulatorState:
    """Thread-safe state of one simulated Marketo instance (one re-entrant lock guards it all)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Back to a fresh instance (same config), clock included."""
        with self.lock:
            self._offset = 0.0
            self.tokens: dict[str, Token] = {}
            self.store = DataStore(self.config)
            self.lists = ListMemberships(self.store, self.config.paging_token_ttl)
            self.queue = ImportQueue(self.config, self.store, self.now())
            self.faults: list[Fault] = []
            self.fail_next: list[str] = []
            self.window: deque[float] = deque()
            self.quota_day: date | None = None
            self.quota_used = 0
            self.in_flight = 0
            self.calls: Counter[str] = Counter()
            self.errors: Counter[str] = Counter()
            self.http_status: Counter[str] = Counter()
            self.tokens_issued = 0
            self.token_calls = 0
            self.requests_log: list[dict[str, Any]] = []

    # -- clock -------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._offset

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self._offset += seconds
            self.queue.advance(self.now(), look=False)

    # -- identity ----------------------------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str) -> dict[str, Any] | None:
        """The client's current token (a new one if none is valid); None for bad credentials."""
        with self.lock:
            self.token_calls += 1
            expected = self.config.clients.get(client_id)
            if expected is None or not secrets.compare_digest(expected, client_secret):
                return None
            now = self.now()
            token = next(
                (t for t in self.tokens.values() if t.client_id == client_id and t.expires_at > now), None
            )
            if token is None:
                token = Token(f"{uuid.uuid4()}:ab", client_id, now + self.config.token_ttl)
                self.tokens[token.value] = token
                self.tokens_issued += 1
            return {
                "access_token": token.value,
                "token_type": "bearer",
                "expires_in": max(int(token.expires_at - now), 0),
                "scope": f"{client_id}@simulator.marketo",
            }

    def expire_tokens(self) -> None:
        with self.lock:
            now = self.now()
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, now)

    # -- admission of one API call -----------------------------------------------------------
    def admit(self, authorization: str | None, token_param: bool) -> None:
        """Check token, rate window and daily quota (raise ApiError), then let the jobs advance."""
        with self.lock:
            now = self.now()
            self.window.append(now)
            while self.window and self.window[0] <= now - self.config.window_seconds:
                self.window.popleft()
            self._check_token(authorization, token_param, now)
            if len(self.window) > self.config.calls_per_window:
                raise ApiError(
                    "606",
                    f"Max rate limit '{self.config.calls_per_window}' exceeded "
                    f"with in '{self.config.window_seconds:g}' secs",
                )
            day = datetime.fromtimestamp(now, QUOTA_ZONE).date()
            if day != self.quota_day:
                self.quota_day, self.quota_used = day, 0
            self.quota_used += 1
            if self.quota_used > self.config.daily_quota:
                raise ApiError("607", "Daily quota reached; it resets at 00:00 US Central time")
            self.queue.advance(now, look=True)

    def _check_token(self, authorization: str | None, token_param: bool, now: float) -> None:
        if token_param:
            raise ApiError(
                "603", "Access denied: the access_token parameter is no longer supported, use Authorization"
            )
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError("603", "Access denied: no access token in the Authorization header")
        token = self.tokens.get(value.strip())
        if token is None:
            raise ApiError("601")
        if token.expires_at <= now:
            if token.expiry_reported:
                raise ApiError("601")
            token.expiry_reported = True
            raise ApiError("602")

    def enter_flight(self) -> bool:
        """Count a call in flight; False when ``max_in_flight`` are already running."""
        with self.lock:
            if self.in_flight >= self.config.max_in_flight:
                return False
            self.in_flight += 1
            return True

    def leave_flight(self) -> None:
        with self.lock:
            self.in_flight -= 1

    # -- faults and queue control ------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, path: str) -> Fault | None:
        """The first pending fault that applies to ``path`` (one of its ``count`` uses is consumed)."""
        with self.lock:
            for fault in self.faults:
                if fault.applies_to(path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def fail_next_jobs(self, count: int, message: str) -> None:
        with self.lock:
            self.fail_next.extend([message] * count)

    def occupy_queue(self, jobs: int, seconds: float) -> None:
        with self.lock:
            now = self.now()
            self.queue.advance(now, look=False)
            for _ in range(jobs):
                job = Job(self.queue.new_batch_id(), "leads", now, foreign=True, hold_until=now + seconds)
                self.queue.add(job)

    # -- import jobs -------------------------------------------------------------------------
    def create_import(
        self, kind: str, target: Mapping[str, str], data: bytes, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """Validate and queue an import job; its status result, or ApiError."""
        prepared = prepare_import(self.config, kind, target, data, params)
        with self.lock:
            list_id = prepared.spec.list_id
            if list_id is not None and any(
                job.spec is not None and job.spec.list_id == list_id for job in self.queue.pending
            ):
                raise ApiError("1019", f"Import in progress into list {list_id}")
            if len(self.queue.pending) >= self.config.max_queue:
                raise ApiError("1016")
            job = Job(
                batch_id=self.queue.new_batch_id(),
                kind=kind,
                created_at=self.now(),
                spec=prepared.spec,
                params=prepared.params,
                file_format=prepared.file_format,
                file=data,
                header=prepared.file.header,
                records=prepared.file.records,
                fail_message=self.fail_next.pop(0) if self.fail_next else None,
            )
            self.queue.add(job)
            return job.create_result()

    def job_status(self, kind: str, batch_id: str, api_name: str | None = None) -> dict[str, Any]:
        """Status result of a job, or ApiError 1013 when unknown or expired."""
        with self.lock:
            return self._find_job(kind, batch_id, api_name).status_result()

    def job_result_file(
        self, kind: str, batch_id: str, which: str, api_name: str | None = None
    ) -> tuple[bytes | None, str]:
        """The job's failures or warnings file (None: no such file) and its format."""
        with self.lock:
            job = self._find_job(kind, batch_id, api_name)
            return job.file_rows(which), job.file_format

    def _find_job(self, kind: str, batch_id: str, api_name: str | None) -> Job:
        job = self.queue.jobs.get(int(batch_id)) if batch_id.isdigit() else None
        max_age = self.config.batch_ttl_days * 86400
        if (
            job is None
            or job.foreign
            or job.kind != kind
            or (api_name is not None and job.params.get("apiName") != api_name)
            or self.now() - job.created_at > max_age
        ):
            raise ApiError("1013", f"Import batch {batch_id} not found")
        return job

    # -- static lists ------------------------------------------------------------------------
    def list_page(self, list_id: int, params: Mapping[str, str]) -> dict[str, Any]:
        """Get Leads by List ID: ``{"result": [...], "nextPageToken": ...}`` (no token on the last page)."""
        with self.lock:
            result, following = self.lists.page(list_id, dict(params), self.now())
            return {"result": result, **({"nextPageToken": following} if following else {})}

    def remove_from_list(self, list_id: int, lead_ids: list[str]) -> list[dict[str, Any]]:
        """Remove from List; 1019 while an import into the list is queued or importing."""
        with self.lock:
            if any(job.spec is not None and job.spec.list_id == list_id for job in self.queue.pending):
                raise ApiError("1019", f"Import in progress into list {list_id}")
            return self.lists.remove(list_id, lead_ids)

    def add_list_members(self, list_id: int, ids: list[int], emails: list[str]) -> list[int]:
        """Control API: leads added to a static list by hand (ids or emails of existing leads)."""
        with self.lock:
            return self.lists.add_by_hand(list_id, ids, emails)

    # -- describe ----------------------------------------------------------------------------
    def describe(self, what: str, api_name: str | None = None) -> dict[str, Any]:
        """The Describe result of ``leads``, ``program_members`` or the custom object ``api_name``."""
        with self.lock:
            if what == "custom_objects":
                assert api_name is not None
                return describe_custom_object(self.config, api_name)
            if what == "program_members":
                return describe_program_members(self.config)
            return describe_leads(self.config)

    # -- recording ---------------------------------------------------------------------------
    def record(
        self, method: str, path: str, template: str | None, query: str, status: int, code: str | None
    ) -> None:
        """Log one request (secrets in the query are masked) and count it.

        ``secret_in_url`` tells whether the URL carried a client secret, an access token (a known
        value, or a ``client_secret`` / ``access_token`` parameter): what real clients must never send.
        """
        with self.lock:
            self.requests_log.append(
                {
                    "method": method,
                    "path": path,
                    "query": _SECRET_PARAMS.sub(r"\1***", query),
                    "status": status,
                    "code": code,
                    "secret_in_url": self._secret_in(unquote_plus(path + "?" + query)),
                }
            )
            if template is not None:
                self.calls[f"{method} {template}"] += 1
            if code:
                self.errors[code] += 1
            self.http_status[str(status)] += 1

    def _secret_in(self, url: str) -> bool:
        if _SECRET_PARAMS.search(url.partition("?")[2]):
            return True
        secrets_ = [*self.config.clients.values(), *self.tokens]
        return any(secret and secret in url for secret in secrets_)

    # -- inspection --------------------------------------------------------------------------
    def counters(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "errors": dict(self.errors),
                "http_status": dict(self.http_status),
                "tokens_issued": self.tokens_issued,
                "token_calls": self.token_calls,
                "in_flight": self.in_flight,
                "quota_used": self.quota_used,
            }

    def jobs(self) -> list[dict[str, Any]]:
        with self.lock:
            self.queue.advance(self.now(), look=False)
            return [job.to_dict() for job in self.queue.jobs.values()]

    def _job(self, batch_id: int) -> Job:
        job = self.queue.jobs.get(batch_id)
        if job is None:
            raise KeyError(f"No job {batch_id}")
        return job

    def job_file(self, batch_id: int) -> bytes:
        with self.lock:
            return self._job(batch_id).file

    def result_rows(self, batch_id: int, which: str) -> list[list[str]]:
        with self.lock:
            job = self._job(batch_id)
            return [list(row) for row in (job.failures if which == "failures" else job.warnings)]

    def pending_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(fault) for fault in self.faults]

    def issued_tokens(self) -> list[str]:
        with self.lock:
            return list(self.tokens)

    def leads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(lead) for lead in self.store.leads.values()]

    def list_members(self, list_id: int) -> list[int]:
        with self.lock:
            return list(self.store.list_members.get(list_id, {}))

    def program_members(self, program_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(member) for member in self.store.program_members.get(program_id, {}).values()]

    def custom_objects(self, api_name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(record) for record in self.store.custom_objects.get(api_name, {}).values()]

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(entry) for entry in self.requests_log]
