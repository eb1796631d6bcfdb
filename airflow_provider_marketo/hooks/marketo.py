"""Hooks for Marketo's Bulk Import API: :class:`MarketoHook` (requests) and :class:`AsyncMarketoHook` (httpx).

The hooks own everything Marketo-specific below the job level: the access token (cached per
process, renewed on 601/602 up to ``MAX_TOKEN_RENEWALS`` times per call), the
``Authorization: Bearer`` header, the client-side call budget shared by the process, envelope
errors and bounded retries (one policy for both hooks: ``_retry`` and ``TokenRenewals``). Callers see results and
:mod:`airflow_provider_marketo.exceptions`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any, BinaryIO, Literal, TypeVar

import httpx
import requests
from airflow.sdk import BaseHook
from requests_toolbelt import MultipartEncoder

from airflow_provider_marketo._compat import (
    amask_secret,
    legacy_field_behaviour,
    legacy_form_widgets,
    mask_secret,
)
from airflow_provider_marketo.exceptions import (
    MarketoAuthError,
    MarketoBatchNotFoundError,
    MarketoConfigError,
    MarketoError,
    MarketoPagingTokenError,
    MarketoRequestError,
    MarketoRetryableError,
    MarketoTokenError,
)
from airflow_provider_marketo.hooks._errors import check_file_response, parse_response, transport_error
from airflow_provider_marketo.hooks._loops import loop_local
from airflow_provider_marketo.hooks._ratelimit import InstanceLimiter, limiter_for
from airflow_provider_marketo.hooks._retry import aretrying, retrying
from airflow_provider_marketo.hooks._settings import MarketoSettings
from airflow_provider_marketo.hooks._streams import DownloadSink, UploadBody
from airflow_provider_marketo.hooks._token import TokenRenewals, aget_token, get_token
from airflow_provider_marketo.limits import LIST_IDS_PER_CALL
from airflow_provider_marketo.objects import BulkTarget, ImportStatus, ListMemberChange, list_leads_path

__all__ = ["AsyncMarketoHook", "MarketoHook", "MarketoSettings"]

log = logging.getLogger(__name__)

T = TypeVar("T")
CHUNK_SIZE = 1024 * 1024
CONTENT_TYPES = {"csv": "text/csv", "tsv": "text/tab-separated-values", "ssv": "text/plain"}
DESCRIBE_LEADS_PATH = "/rest/v1/leads/describe2.json"
DESCRIBE_PROGRAM_MEMBERS_PATH = "/rest/v1/programs/members/describe.json"
#: The error code of a refused ``nextPageToken`` (expired or unknown). Adobe documents no expiry
#: error for position-based paging tokens; the simulator answers 1003 (invalid value), like Marketo.
PAGING_TOKEN_CODES = frozenset({"1003"})


def _limiter(settings: MarketoSettings) -> InstanceLimiter:
    return limiter_for(
        settings.base_url, settings.calls_per_window, settings.window_seconds, settings.max_concurrent_calls
    )


def _status_from(target: BulkTarget, batch_id: int, result: list[dict[str, Any]]) -> ImportStatus:
    if not result:
        raise MarketoBatchNotFoundError(f"Marketo returned no status for batch {batch_id}.")
    return ImportStatus.from_result(target.kind, result[0])


def _query(params: Sequence[tuple[str, str | int]]) -> Callable[[], dict[str, Any]]:
    """Request arguments with a query string (never the access token: that goes in a header)."""
    return lambda: {"params": list(params)}


def _auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class MarketoHook(BaseHook):
    """
    Talks to Marketo's Bulk Import API with ``requests``.

    :param marketo_conn_id: a ``marketo`` connection: host = REST API base URL (or Munchkin id),
        login = client id, password = client secret, optional extras for timeouts and the call budget.
    """

    conn_name_attr = "marketo_conn_id"
    default_conn_name = "marketo_default"
    conn_type = "marketo"
    hook_name = "Marketo"

    def __init__(self, marketo_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.marketo_conn_id = marketo_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow 3.1 (3.2+ reads the provider info and skips this)."""
        return legacy_field_behaviour(cls.conn_type)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields of the connection form for Airflow 3.1 (3.2+ reads the provider info)."""
        return legacy_form_widgets(cls.conn_type)

    @cached_property
    def settings(self) -> MarketoSettings:
        """The validated connection (read once per hook)."""
        settings = MarketoSettings.from_connection(self.get_connection(self.marketo_conn_id))
        mask_secret(settings.client_secret)
        return settings

    @cached_property
    def session(self) -> requests.Session:
        return requests.Session()

    def get_conn(self) -> requests.Session:
        return self.session

    # -- public API -------------------------------------------------------------------------------

    def create_import(
        self,
        target: BulkTarget,
        file: BinaryIO,
        *,
        file_format: str,
        filename: str,
        params: Mapping[str, str | int | None] | None = None,
    ) -> int:
        """Upload ``file`` (streamed from its current position) as a new import job; return its batch id."""
        content_type = CONTENT_TYPES.get(file_format)
        if content_type is None:
            raise MarketoConfigError(
                f"Unknown file format {file_format!r}; expected one of {list(CONTENT_TYPES)}."
            )
        path = target.create_path
        fields = {key: str(value) for key, value in (params or {}).items() if value is not None}
        fields["format"] = file_format
        body = UploadBody(file)

        def prepare() -> dict[str, Any]:
            body.rewind()
            encoder = MultipartEncoder(fields={**fields, "file": (filename, body, content_type)})
            return {"data": encoder, "headers": {"Content-Type": encoder.content_type}}

        self.log.info("Uploading %s (%d bytes) to Marketo %s.", filename, body.size, path)
        result = self._call("POST", path, self._envelope(), prepare=prepare)
        if not result or "batchId" not in result[0]:
            raise MarketoRequestError(f"Marketo accepted {filename} but returned no batch id.")
        batch_id = int(result[0]["batchId"])
        self.log.info(
            "Marketo import batch %d created from %s (status %s).",
            batch_id,
            filename,
            result[0].get("status"),
        )
        return batch_id

    def get_import_status(self, target: BulkTarget, batch_id: int) -> ImportStatus:
        """The current status of an import job."""
        result = self._call("GET", target.status_path(batch_id), self._envelope(status_call=True))
        return _status_from(target, batch_id, result)

    def download_import_file(
        self, target: BulkTarget, batch_id: int, which: Literal["failures", "warnings"], dest: BinaryIO
    ) -> bool:
        """Stream a job's failures or warnings file into ``dest``; ``False`` (nothing written) if there is none."""
        sink = DownloadSink(dest)

        def handle(response: requests.Response) -> bool:
            found = check_file_response(
                response.status_code,
                response.headers.get("Content-Type"),
                lambda: response.content,
                conn_id=self.settings.conn_id,
            )
            if found:
                for chunk in response.iter_content(chunk_size=CHUNK_SIZE):
                    sink.write(chunk)
            return found

        def prepare() -> dict[str, Any]:
            sink.reset()
            return {"stream": True}

        found = self._call(
            "GET", target.file_path(batch_id, which), handle, prepare=prepare, can_retry=sink.can_retry
        )
        self.log.info(
            "Marketo %s file of batch %d: %s.", which, batch_id, f"{sink.written} bytes" if found else "none"
        )
        return found

    def iter_list_members(
        self, list_id: int, fields: Sequence[str] = ("id", "email"), *, batch_size: int = LIST_IDS_PER_CALL
    ) -> Iterator[list[dict[str, Any]]]:
        """Get Leads by List ID: the static list's members, one page (at most ``batch_size``) at a time.

        One call per page, each with ``nextPageToken`` of the one before. A refused paging token
        (expired or unknown) raises :class:`MarketoPagingTokenError`: read the list again.
        """
        if not 1 <= batch_size <= LIST_IDS_PER_CALL:
            raise MarketoConfigError(
                f"batch_size must be between 1 and {LIST_IDS_PER_CALL}, got {batch_size}."
            )
        path = list_leads_path(list_id)
        conn_id = self.settings.conn_id
        base: list[tuple[str, str | int]] = [("fields", ",".join(fields)), ("batchSize", batch_size)]
        page_token: str | None = None

        def handle(response: requests.Response) -> tuple[list[dict[str, Any]], str | None]:
            result = parse_response(response, conn_id=conn_id)
            following = response.json().get("nextPageToken")
            return result, str(following) if following else None

        while True:
            params = [*base, ("nextPageToken", page_token)] if page_token else base
            try:
                page, following = self._call("GET", path, handle, prepare=_query(params))
            except MarketoRequestError as exc:
                if page_token is None or exc.code not in PAGING_TOKEN_CODES:
                    raise
                raise MarketoPagingTokenError(
                    f"Marketo refused the paging token of list {list_id} ({exc.marketo_message}).",
                    code=exc.code,
                    request_id=exc.request_id,
                ) from None
            yield page
            if not following:
                return
            page_token = following

    def remove_from_list(self, list_id: int, lead_ids: Sequence[int]) -> list[ListMemberChange]:
        """Remove from List: ``DELETE`` with the ids in the query string (Adobe's form), at most 300.

        Returns each id's status: ``removed``, or ``skipped`` with reasons (``1004`` Lead not found).
        A list with an import in progress raises :class:`MarketoListBusyError` (1019), not retried here.
        """
        if not 1 <= len(lead_ids) <= LIST_IDS_PER_CALL:
            raise MarketoConfigError(
                f"Remove from List takes 1 to {LIST_IDS_PER_CALL} lead ids a call, got {len(lead_ids)}."
            )
        params = [("id", int(lead_id)) for lead_id in lead_ids]
        result = self._call(
            "DELETE", list_leads_path(list_id), self._envelope(), prepare=lambda: {"params": params}
        )
        changes = [ListMemberChange.from_result(item) for item in result if "id" in item]
        self.log.info(
            "Remove from list %d: %d ids sent, %d removed.",
            list_id,
            len(lead_ids),
            sum(change.status == "removed" for change in changes),
        )
        return changes

    def describe_leads(self) -> dict[str, Any]:
        """Describe Lead2: the lead ``fields`` (REST API ``name`` each) and the ``searchableFields``."""
        return self._describe(DESCRIBE_LEADS_PATH)

    def describe_custom_object(self, api_name: str) -> dict[str, Any]:
        """Describe Custom Object: its ``fields``, ``dedupeFields`` and ``searchableFields``."""
        return self._describe(f"/rest/v1/customobjects/{api_name}/describe.json")

    def describe_program_members(self) -> dict[str, Any]:
        """Describe Program Member: the program member ``fields`` (besides the lead fields)."""
        return self._describe(DESCRIBE_PROGRAM_MEMBERS_PATH)

    def test_connection(self) -> tuple[bool, str]:
        """Get a token and make one cheap authenticated call (status of batch 0, expected "not found")."""
        try:
            settings = self.settings
            self._call(
                "GET", BulkTarget("leads").status_path(0), self._envelope(status_call=True), max_attempts=1
            )
        except (MarketoConfigError, MarketoAuthError) as exc:
            return False, str(exc)
        except MarketoRequestError as exc:
            if exc.code is None:  # not a Marketo envelope: wrong URL or a proxy in the way
                return False, f"{settings.base_url} does not look like a Marketo REST endpoint: {exc}"
        except MarketoRetryableError as exc:
            return False, f"Marketo at {settings.base_url} is unreachable or failing: {exc}"
        except MarketoError as exc:
            return False, str(exc)
        return True, f"Authenticated to Marketo at {settings.base_url} as client {settings.client_id}."

    # -- plumbing ---------------------------------------------------------------------------------

    def _describe(self, path: str) -> dict[str, Any]:
        result = self._call("GET", path, self._envelope())
        if not result:
            raise MarketoRequestError(f"Marketo answered GET {path} without a description.")
        return result[0]

    def _envelope(self, *, status_call: bool = False) -> Callable[[requests.Response], list[dict[str, Any]]]:
        conn_id = self.settings.conn_id
        return lambda response: parse_response(response, conn_id=conn_id, status_call=status_call)

    def _call(
        self,
        method: str,
        path: str,
        handle: Callable[[requests.Response], T],
        *,
        prepare: Callable[[], dict[str, Any]] = dict,
        can_retry: Callable[[], bool] = lambda: True,
        max_attempts: int | None = None,
    ) -> T:
        """One API call with bounded retries; ``prepare`` gives fresh request arguments per attempt."""
        settings = self.settings
        what = f"{method} {path}"
        renewals = TokenRenewals(settings, what)
        for attempt in retrying(settings, what, can_retry=can_retry, max_attempts=max_attempts):
            with attempt:
                self.log.debug("Marketo call %s, attempt %d.", what, attempt.retry_state.attempt_number)
                while True:
                    token = get_token(self.session, settings)
                    try:
                        return self._send(method, path, handle, prepare(), token)
                    except MarketoTokenError as exc:
                        renewals.renew(exc, token)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _send(
        self,
        method: str,
        path: str,
        handle: Callable[[requests.Response], T],
        kwargs: dict[str, Any],
        token: str,
    ) -> T:
        settings = self.settings
        headers = {**kwargs.pop("headers", {}), **_auth_header(token)}
        with _limiter(settings).slot(f"{method} {path}"):
            try:
                with self.session.request(
                    method, settings.base_url + path, headers=headers, timeout=settings.timeout, **kwargs
                ) as response:
                    return handle(response)
            except requests.RequestException as exc:
                raise transport_error(exc, f"{method} {path}") from None


class AsyncMarketoHook:
    """
    The status call of :class:`MarketoHook` for triggers, with ``httpx``.

    Every hook of one event loop shares one ``httpx.AsyncClient`` per Marketo instance and, with the
    sync hooks, the process-wide token cache and call budget: many triggers make one token call.

    :param marketo_conn_id: a ``marketo`` connection, as for :class:`MarketoHook`.
    """

    def __init__(self, marketo_conn_id: str = MarketoHook.default_conn_name) -> None:
        self.marketo_conn_id = marketo_conn_id
        self._settings: MarketoSettings | None = None

    async def get_settings(self) -> MarketoSettings:
        """The validated connection (read once per hook, without blocking the loop)."""
        if self._settings is None:
            settings = MarketoSettings.from_connection(await BaseHook.aget_connection(self.marketo_conn_id))
            await amask_secret(settings.client_secret)
            self._settings = settings
        return self._settings

    async def get_import_status(self, target: BulkTarget, batch_id: int) -> ImportStatus:
        """The current status of an import job."""
        settings = await self.get_settings()
        path = target.status_path(batch_id)
        result = await self._call(settings, "GET", path, status_call=True)
        return _status_from(target, batch_id, result)

    @staticmethod
    def _client(settings: MarketoSettings) -> httpx.AsyncClient:
        return loop_local(("client", settings.base_url), httpx.AsyncClient)

    async def _call(
        self, settings: MarketoSettings, method: str, path: str, *, status_call: bool = False
    ) -> list[dict[str, Any]]:
        """One API call with the retry policy and token renewal of :meth:`MarketoHook._call`."""
        client = self._client(settings)
        what = f"{method} {path}"

        async def send(token: str) -> list[dict[str, Any]]:
            async with _limiter(settings).aslot(what):
                try:
                    response = await client.request(
                        method,
                        settings.base_url + path,
                        headers=_auth_header(token),
                        timeout=settings.timeout,
                    )
                except httpx.HTTPError as exc:
                    raise transport_error(exc, what) from None
            return parse_response(response, conn_id=settings.conn_id, status_call=status_call)

        renewals = TokenRenewals(settings, what)
        async for attempt in aretrying(settings, what):
            with attempt:
                log.debug("Marketo call %s, attempt %d.", what, attempt.retry_state.attempt_number)
                while True:
                    token = await aget_token(client, settings)
                    try:
                        return await send(token)
                    except MarketoTokenError as exc:
                        renewals.renew(exc, token)
        raise AssertionError("unreachable: tenacity re-raises the last error")
