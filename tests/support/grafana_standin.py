"""A local HTTP stand-in for the parts of Grafana's HTTP API that ``smartcity grafana push`` uses (no Grafana
server can run here), answering as Grafana documents them (docs/GRAFANA.md cites the pages) and holding what it
was sent, so that a test sees both the calls and their effect:

- ``GET /api/health`` without a token: ``{"commit", "database": "ok", "version"}``;
- every other ``/api`` path needs ``Authorization: Bearer <token>``, else 401 ``{"message": "Invalid API key"}``;
  writes under a path of :attr:`GrafanaStandin.forbidden` answer 403 (a token without the permission);
- datasources by uid: ``GET``/``PUT /api/datasources/uid/<uid>``, ``POST /api/datasources``; what is stored and
  answered are Grafana's datasource fields only (an unknown key is dropped), secrets appear as
  ``secureJsonFields``; names and uids are unique (409); a read-only (file-provisioned) one refuses updates (403);
- folders: ``GET``/``PUT /api/folders/<uid>`` (the current ``version`` or 412), ``POST /api/folders`` (409 for
  a taken uid);
- dashboards: ``GET /api/dashboards/uid/<uid>`` (``{"dashboard", "meta": {"folderUid", "provisioned"}}``),
  ``POST /api/dashboards/db`` (the folder must exist; an existing uid needs ``overwrite``; Grafana adds ``id`` and
  ``version``);
- alert rules and their groups: :mod:`tests.support.grafana_standin_rules`.

:attr:`GrafanaStandin.requests` lists every request (method, path, JSON body, headers) in order.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.support.grafana_standin_rules import RuleStore

Json = dict[str, Any]
Answer = tuple[int, Any]
_DATASOURCE_DEFAULTS: Json = {"access": "proxy", "url": "", "user": "", "database": "", "basicAuth": False}
_DATASOURCE_DEFAULTS |= {"basicAuthUser": "", "withCredentials": False, "isDefault": False, "jsonData": {}}
"""Grafana's datasource fields (besides name, type, uid, secrets) and what it stores when one is not sent."""


@dataclass
class Request:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class GrafanaState:
    """What the stand-in holds (tests may seed it)."""

    datasources: dict[str, Json] = field(default_factory=dict)
    folders: dict[str, Json] = field(default_factory=dict)
    dashboards: dict[str, Json] = field(default_factory=dict)


class GrafanaStandin:
    """Runs on 127.0.0.1 (a free port) in a thread while used as a context manager; :attr:`url` is its root."""

    def __init__(self, *, token: str, version: str = "11.6.0", default_interval_s: int = 60) -> None:
        self.token, self.version = token, version
        self.state = GrafanaState()
        self.requests: list[Request] = []
        self._ids = itertools.count(1)
        self.forbidden: set[str] = set()
        """Path prefixes the token may read but not write (403, a role without the permission)."""
        self.alerting = RuleStore(self.state.folders, self.state.datasources, self._ids, default_interval_s)
        """The alert rules (``alerting.rules``) and rule group intervals (``alerting.intervals``)."""
        self._lock = threading.Lock()
        self._server = _server(self._serve)
        self._thread = threading.Thread(target=self._server.serve_forever, name="grafana-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def writes(self) -> list[Request]:
        return [request for request in self.requests if request.method != "GET"]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _serve(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append(Request(method, path, copy.deepcopy(body), headers))
            if path == "/api/health" and method == "GET":
                return 200, {"commit": "standin", "database": "ok", "version": self.version}
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"message": "Invalid API key"}
            if method != "GET" and any(path.startswith(prefix) for prefix in self.forbidden):
                return 403, {"message": "You'll need additional permissions to perform this action."}
            for pattern, handler in self._routes():
                match = re.fullmatch(pattern, f"{method} {path}")
                if match:
                    return handler(body, *match.groups())
            return 404, {"message": "Not found"}

    def _routes(self) -> list[tuple[str, Callable[..., Answer]]]:
        return [
            (r"GET /api/datasources/uid/([\w-]+)", self._get_datasource),
            (r"POST /api/datasources", self._create_datasource),
            (r"PUT /api/datasources/uid/([\w-]+)", self._update_datasource),
            (r"GET /api/folders/([\w-]+)", lambda _, uid: self._found(self.state.folders.get(uid), "folder")),
            (r"POST /api/folders", self._create_folder),
            (r"PUT /api/folders/([\w-]+)", self._update_folder),
            (
                r"GET /api/dashboards/uid/([\w-]+)",
                lambda _, uid: self._found(self.state.dashboards.get(uid), "Dashboard"),
            ),
            (r"POST /api/dashboards/db", self._save_dashboard),
            *self.alerting.routes(),
        ]

    @staticmethod
    def _found(item: Json | None, what: str) -> Answer:
        return (200, copy.deepcopy(item)) if item is not None else (404, {"message": f"{what} not found"})

    # -- datasources -----------------------------------------------------------------------------------------
    def _get_datasource(self, _body: Any, uid: str) -> Answer:
        return self._found(self.state.datasources.get(uid), "Data source")

    def _datasource_fields(self, body: Json, stored: Json) -> Answer | None:
        missing = [key for key in ("name", "type", "access") if not body.get(key)]
        if missing:
            return 400, {"message": f"bad request data: missing {missing}"}
        clash = [ds for ds in self.state.datasources.values() if ds["name"] == body["name"] and ds is not stored]
        if clash:
            return 409, {"message": "data source with the same name already exists"}
        given = {key: body[key] for key in (*_DATASOURCE_DEFAULTS, "name", "type") if key in body}
        stored |= copy.deepcopy(_DATASOURCE_DEFAULTS) | given
        secrets = stored.setdefault("secureJsonFields", {})
        secrets |= {key: True for key, value in (body.get("secureJsonData") or {}).items() if value}
        stored["version"] = stored.get("version", 0) + 1
        return None

    def _create_datasource(self, body: Json) -> Answer:
        uid = body.get("uid") or f"ds{next(self._ids)}"
        if uid in self.state.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        stored: Json = {"id": next(self._ids), "uid": uid, "orgId": 1, "typeLogoUrl": "", "readOnly": False}
        refused = self._datasource_fields(body, stored)
        if refused:
            return refused
        self.state.datasources[uid] = stored
        return 200, {"datasource": stored, "id": stored["id"], "message": "Datasource added", "name": stored["name"]}

    def _update_datasource(self, body: Json, uid: str) -> Answer:
        stored = self.state.datasources.get(uid)
        if stored is None:
            return 404, {"message": "Data source not found"}
        if stored["readOnly"]:
            return 403, {"message": "Cannot update read-only data source"}
        refused = self._datasource_fields(body, stored)
        return refused or (200, {"datasource": stored, "id": stored["id"], "message": "Datasource updated"})

    # -- folders and dashboards ------------------------------------------------------------------------------
    def _create_folder(self, body: Json) -> Answer:
        uid = body.get("uid") or f"f{next(self._ids)}"
        if not body.get("title"):
            return 400, {"message": "folder title cannot be empty"}
        if uid in self.state.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        folder = {"id": next(self._ids), "uid": uid, "title": body["title"], "url": f"/dashboards/f/{uid}/"}
        self.state.folders[uid] = folder | {"version": 1}
        return 200, self.state.folders[uid]

    def _update_folder(self, body: Json, uid: str) -> Answer:
        folder = self.state.folders.get(uid)
        if folder is None:
            return 404, {"message": "folder not found"}
        if body.get("version") != folder["version"] and not body.get("overwrite"):
            return 412, {"message": "The folder has been changed by someone else", "status": "version-mismatch"}
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return 200, folder

    def _save_dashboard(self, body: Json) -> Answer:
        board, folder = body.get("dashboard"), body.get("folderUid", "")
        if not isinstance(board, dict) or not board.get("title") or not board.get("uid"):
            return 400, {"message": "Dashboard title cannot be empty"}
        if folder and folder not in self.state.folders:
            return 400, {"message": "folder not found"}
        stored = self.state.dashboards.get(board["uid"])
        if stored is not None and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
        if stored is not None and stored["meta"].get("provisioned"):
            return 400, {"message": "Cannot save provisioned dashboard"}
        identity = stored["dashboard"]["id"] if stored else next(self._ids)
        version = stored["dashboard"]["version"] + 1 if stored else 1
        saved = copy.deepcopy(board) | {"id": identity, "version": version}
        meta = {"folderUid": folder, "provisioned": False, "url": f"/d/{board['uid']}/", "slug": board["uid"]}
        self.state.dashboards[board["uid"]] = {"dashboard": saved, "meta": meta}
        return 200, {"id": identity, "uid": board["uid"], "status": "success", "version": version, "url": meta["url"]}


class NotGrafana:
    """Some other web server (a proxy's or an application's start page): 200 and HTML for every path."""

    def __init__(self) -> None:
        self._server = _server(lambda *_: (200, "<html><body>It works</body></html>"), content_type="text/html")
        self._thread = threading.Thread(target=self._server.serve_forever, name="not-grafana", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def _server(
    serve: Callable[[str, str, Any, dict[str, str]], Answer], *, content_type: str = "application/json"
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw) if raw else None
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, answer = serve(self.command, self.path.split("?")[0], body, headers)
            text = answer if isinstance(answer, str) else json.dumps(answer)
            content = b"" if status == 204 else text.encode()
            self.send_response(status)
            if content:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server
