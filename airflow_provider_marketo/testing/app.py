"""The simulator's HTTP API: Marketo's Identity and Bulk Import paths, plus ``/_sim`` control paths."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_marketo.testing.envelope import ApiError, error_body, success_body
from airflow_provider_marketo.testing.faults import IDENTITY_PREFIX, DropConnection, Fault
from airflow_provider_marketo.testing.state import SimulatorState

CODE_KEY = "marketo_sim.code"
STATUS_KEY = "marketo_sim.status"
FILE_KINDS = ("failures", "warnings")


def create_app(state: SimulatorState) -> ASGIApp:
    """The ASGI application of one simulated instance."""
    api = FastAPI(title="Marketo simulator", docs_url=None, redoc_url=None, openapi_url=None)
    _add_identity_routes(api, state)
    _add_bulk_routes(api, state)
    _add_control_routes(api, state)
    return SimulatorMiddleware(api, state, api.router.routes)


def _error(request: Request, err: ApiError) -> JSONResponse:
    request.scope[CODE_KEY] = err.code
    return JSONResponse(error_body(err.code, err.message))


def _admit(state: SimulatorState, request: Request, form: FormData | None = None) -> None:
    token_param = "access_token" in request.query_params or (form is not None and "access_token" in form)
    state.admit(request.headers.get("authorization"), token_param)


def _add_identity_routes(api: FastAPI, state: SimulatorState) -> None:
    @api.api_route(f"{IDENTITY_PREFIX}/oauth/token", methods=["GET", "POST"])
    async def token(request: Request) -> Response:
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST" and "form" in request.headers.get("content-type", ""):
            params.update((k, v) for k, v in (await request.form()).items() if isinstance(v, str))
        if params.get("grant_type") != "client_credentials":
            body = {
                "error": "unsupported_grant_type",
                "error_description": "Use grant_type=client_credentials",
            }
            return JSONResponse(body, status_code=400)
        issued = state.issue_token(str(params.get("client_id", "")), str(params.get("client_secret", "")))
        if issued is None:
            body = {"error": "invalid_client", "error_description": "Bad client credentials"}
            return JSONResponse(body, status_code=401)
        return JSONResponse(issued)


def _add_bulk_routes(api: FastAPI, state: SimulatorState) -> None:
    async def create(request: Request, kind: str, target: dict[str, str]) -> Response:
        form: FormData | None = None
        try:
            if request.headers.get("content-type", "").startswith(
                ("multipart/form-data", "application/x-www")
            ):
                try:
                    form = await request.form(max_part_size=state.config.max_body_bytes)
                except HTTPException as err:
                    raise ApiError("613", f"Invalid multipart request: {err.detail}") from None
            await run_in_threadpool(_admit, state, request, form)
            if form is None:
                raise ApiError("612", "Invalid Content Type: use multipart/form-data")
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError("1003", "Missing required part 'file'")
            data = await upload.read()
            params = dict(request.query_params)
            params.update((k, v) for k, v in form.items() if isinstance(v, str))
            result = await run_in_threadpool(state.create_import, kind, target, data, params)
        except ApiError as err:
            return _error(request, err)
        finally:
            if form is not None:
                await form.close()
        return JSONResponse(success_body([result]))

    def status(request: Request, kind: str, batch_id: str, api_name: str | None = None) -> Response:
        try:
            _admit(state, request)
            return JSONResponse(success_body([state.job_status(kind, batch_id, api_name)]))
        except ApiError as err:
            return _error(request, err)

    def result_file(
        request: Request, kind: str, batch_id: str, which: str, api_name: str | None = None
    ) -> Response:
        try:
            _admit(state, request)
            content, _ = state.job_result_file(kind, batch_id, which, api_name)
        except ApiError as err:
            return _error(request, err)
        if content is None:
            return Response(b"", status_code=404, media_type="text/plain")
        return Response(content, media_type="text/csv;charset=UTF-8")

    @api.post("/bulk/v1/leads.json")
    async def create_leads(request: Request) -> Response:
        return await create(request, "leads", {})

    @api.post("/bulk/v1/customobjects/{apiName}/import.json")
    async def create_custom_objects(request: Request, apiName: str) -> Response:
        return await create(request, "custom_objects", {"apiName": apiName})

    @api.post("/bulk/v1/program/{programId}/members/import.json")
    async def create_program_members(request: Request, programId: str) -> Response:
        return await create(request, "program_members", {"programId": programId})

    @api.get("/bulk/v1/leads/batch/{batchId}.json")
    def lead_status(request: Request, batchId: str) -> Response:
        return status(request, "leads", batchId)

    @api.get("/bulk/v1/customobjects/{apiName}/import/{batchId}/status.json")
    def custom_object_status(request: Request, apiName: str, batchId: str) -> Response:
        return status(request, "custom_objects", batchId, apiName)

    @api.get("/bulk/v1/program/members/import/{batchId}/status.json")
    def program_member_status(request: Request, batchId: str) -> Response:
        return status(request, "program_members", batchId)

    for which in FILE_KINDS:
        _add_file_routes(api, result_file, which)
    _add_describe_routes(api, state)
    _add_list_routes(api, state)


def _add_list_routes(api: FastAPI, state: SimulatorState) -> None:
    """Get Leads by List ID and Remove from List (Adobe's "List Membership (Static Lists)")."""

    @api.get("/rest/v1/lists/{listId}/leads.json")
    def list_leads(request: Request, listId: int) -> Response:
        try:
            _admit(state, request)
            page = state.list_page(listId, dict(request.query_params))
        except ApiError as err:
            return _error(request, err)
        body = success_body(page["result"])
        if "nextPageToken" in page:
            body["nextPageToken"] = page["nextPageToken"]
        return JSONResponse(body)

    @api.delete("/rest/v1/lists/{listId}/leads.json")
    def remove_leads(request: Request, listId: int) -> Response:
        try:
            _admit(state, request)
            result = state.remove_from_list(listId, request.query_params.getlist("id"))
        except ApiError as err:
            return _error(request, err)
        return JSONResponse(success_body(result))


def _add_describe_routes(api: FastAPI, state: SimulatorState) -> None:
    def describe(request: Request, what: str, api_name: str | None = None) -> Response:
        try:
            _admit(state, request)
            return JSONResponse(success_body([state.describe(what, api_name)]))
        except ApiError as err:
            return _error(request, err)

    @api.get("/rest/v1/leads/describe2.json")
    def describe_leads(request: Request) -> Response:
        return describe(request, "leads")

    @api.get("/rest/v1/customobjects/{apiName}/describe.json")
    def describe_custom_object(request: Request, apiName: str) -> Response:
        return describe(request, "custom_objects", apiName)

    @api.get("/rest/v1/programs/members/describe.json")
    def describe_program_members(request: Request) -> Response:
        return describe(request, "program_members")


def _add_file_routes(api: FastAPI, result_file: Callable[..., Response], which: str) -> None:
    def lead_file(request: Request, batchId: str) -> Response:
        return result_file(request, "leads", batchId, which)

    def custom_object_file(request: Request, apiName: str, batchId: str) -> Response:
        return result_file(request, "custom_objects", batchId, which, apiName)

    def program_member_file(request: Request, batchId: str) -> Response:
        return result_file(request, "program_members", batchId, which)

    api.add_api_route(f"/bulk/v1/leads/batch/{{batchId}}/{which}.json", lead_file, methods=["GET"])
    api.add_api_route(
        f"/bulk/v1/customobjects/{{apiName}}/import/{{batchId}}/{which}.json",
        custom_object_file,
        methods=["GET"],
    )
    api.add_api_route(
        f"/bulk/v1/program/members/import/{{batchId}}/{which}.json", program_member_file, methods=["GET"]
    )


def _add_control_routes(api: FastAPI, state: SimulatorState) -> None:
    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw) if raw else {}
        if not isinstance(data, dict):
            raise HTTPException(400, "Expected a JSON object")
        return data

    def control(action: Callable[[dict[str, Any]], object]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                action(await body(request))
            except (TypeError, ValueError) as err:
                return JSONResponse({"ok": False, "error": str(err)}, status_code=400)
            return JSONResponse({"ok": True})

        return endpoint

    api.add_api_route(
        "/_sim/faults", control(lambda b: state.add_fault(Fault(b.pop("fault", ""), **b))), methods=["POST"]
    )
    api.add_api_route(
        "/_sim/fail-next-jobs",
        control(
            lambda b: state.fail_next_jobs(int(b.get("count", 1)), str(b.get("message", "Import failed")))
        ),
        methods=["POST"],
    )
    api.add_api_route(
        "/_sim/occupy-queue",
        control(lambda b: state.occupy_queue(int(b["jobs"]), float(b["seconds"]))),
        methods=["POST"],
    )
    api.add_api_route("/_sim/expire-tokens", control(lambda b: state.expire_tokens()), methods=["POST"])
    api.add_api_route(
        "/_sim/clock", control(lambda b: state.advance_clock(float(b.get("advance", 0)))), methods=["POST"]
    )
    api.add_api_route("/_sim/reset", control(lambda b: state.reset()), methods=["POST"])

    @api.get("/_sim/leads")
    def leads() -> list[dict[str, Any]]:
        return state.leads()

    @api.get("/_sim/lists/{list_id}/members")
    def list_members(list_id: int) -> list[int]:
        return state.list_members(list_id)

    async def add_members(request: Request) -> Response:
        list_id = int(request.path_params["list_id"])
        data = await body(request)
        try:
            added = state.add_list_members(
                list_id, [int(i) for i in data.get("ids", [])], [str(e) for e in data.get("emails", [])]
            )
        except (ApiError, TypeError, ValueError) as err:
            return JSONResponse({"ok": False, "error": str(err)}, status_code=400)
        return JSONResponse({"ok": True, "ids": added})

    api.add_api_route("/_sim/lists/{list_id}/members", add_members, methods=["POST"])

    @api.get("/_sim/programs/{program_id}/members")
    def program_members(program_id: int) -> list[dict[str, Any]]:
        return state.program_members(program_id)

    @api.get("/_sim/customobjects/{api_name}")
    def custom_objects(api_name: str) -> list[dict[str, Any]]:
        return state.custom_objects(api_name)

    @api.get("/_sim/jobs")
    def jobs() -> list[dict[str, Any]]:
        return state.jobs()

    @api.get("/_sim/jobs/{batch_id}/file")
    def job_file(batch_id: int) -> Response:
        try:
            return Response(state.job_file(batch_id), media_type="application/octet-stream")
        except KeyError:
            return Response(b"", status_code=404)

    @api.get("/_sim/counters")
    def counters() -> dict[str, Any]:
        return state.counters()

    @api.get("/_sim/requests")
    def requests_log() -> list[dict[str, Any]]:
        return state.requests()


class SimulatorMiddleware:
    """Gateway behaviour in front of the API: body size (413), concurrency (615), faults, logging."""

    def __init__(self, app: ASGIApp, state: SimulatorState, routes: list[BaseRoute]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return

        async def send_and_watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope.setdefault(STATUS_KEY, message["status"])
            await send(message)

        try:
            await self._handle(scope, receive, send_and_watch)
        finally:
            path = scope["path"]
            self.state.record(
                scope["method"],
                path,
                None if path.startswith(IDENTITY_PREFIX) else self._template(scope),
                scope.get("query_string", b"").decode("latin-1"),
                scope.get(STATUS_KEY, 0),
                scope.get(CODE_KEY),
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.state.config.max_body_bytes:
            await _drain(receive)
            title = "413 Request Entity Too Large"
            body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            await _send(send, 413, "text/html", body.encode())
            return
        counted = not scope["path"].startswith(IDENTITY_PREFIX)
        if counted and not self.state.enter_flight():
            await _drain(receive)
            scope[CODE_KEY] = "615"
            await _send(send, 200, "application/json", json.dumps(error_body("615")).encode())
            return
        try:
            fault = self.state.take_fault(scope["path"])
            if fault is not None and fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault is not None and fault.kind == "drop":
                await _drain(receive)
                scope[STATUS_KEY] = 0
                await send(
                    {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
                )
                raise DropConnection(scope["path"])
            elif fault is not None:
                await _drain(receive)
                status, content_type, body_bytes = fault.response()
                if fault.kind == "error_code":
                    scope[CODE_KEY] = fault.code or "611"
                await _send(send, status, content_type, body_bytes)
                return
            await self.app(scope, receive, send)
        finally:
            if counted:
                self.state.leave_flight()

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", scope["path"]))
        return str(scope["path"])


async def _drain(receive: Receive) -> None:
    """Read and discard the request body, so that the client can read the answer."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _send(send: Send, status: int, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
