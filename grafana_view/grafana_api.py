"""The Grafana HTTP API calls ``smartcity grafana push`` makes, through grafana-client, with its exceptions (and
requests' underneath) translated once, here, into one small tree whose leaves carry the command's exit code::

    GrafanaError            anything push cannot do
    ├── GrafanaUnreachable  no HTTP answer: connection refused, unknown host, TLS, timeout      exit 3
    ├── NotGrafana          an HTTP answer, but not Grafana's (/api/health is not its JSON)      exit 3
    ├── GrafanaAuthError    401: the token is wrong or expired; 403: it lacks a permission       exit 4
    ├── GrafanaTooOld       /api/health reports a version the dashboards cannot run on          exit 5
    └── GrafanaRefused      any other error answer, or something push will not overwrite        exit 6

Paths are Grafana's (docs/GRAFANA.md, "Pushing to a running Grafana"): ``/api/health``, ``/api/datasources``,
``/api/folders``, ``/api/dashboards``, ``/api/v1/provisioning/alert-rules`` and
``/api/v1/provisioning/folder/<uid>/rule-groups/<group>``. A read of something that does not exist answers
``None`` (Grafana's 404).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import requests.exceptions
from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
)

Json = dict[str, Any]


class GrafanaError(Exception):
    """Push stopped; :attr:`exit_code` is what the command exits with."""

    exit_code = 6


class GrafanaUnreachable(GrafanaError):
    exit_code = 3


class NotGrafana(GrafanaError):
    exit_code = 3


class GrafanaAuthError(GrafanaError):
    exit_code = 4


class GrafanaTooOld(GrafanaError):
    exit_code = 5


class GrafanaRefused(GrafanaError):
    exit_code = 6


class _NotFound(GrafanaRefused):
    """404: what was asked for does not exist (a read answers ``None`` instead)."""


def _message(exc: GrafanaException) -> str:
    response = exc.response
    if isinstance(response, dict) and response.get("message"):
        return str(response["message"])
    return str(response or exc)[:200]


class GrafanaConnection:
    """One Grafana (its root URL) and a service-account token; a context manager that closes its connections."""

    def __init__(self, url: str, token: str | None, *, org_id: int | None = None, timeout_s: float = 10.0) -> None:
        self.url = url
        self._api: Any = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
        if org_id is not None:
            self._api.client.s.headers["X-Grafana-Org-Id"] = str(org_id)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._api.client.s.close()

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except GrafanaClientError as exc:
            if exc.status_code == 401:
                raise GrafanaAuthError(f"Grafana at {self.url} refused the token (401): {_message(exc)}") from None
            if exc.status_code == 403:
                raise GrafanaAuthError(
                    f"the token may not {what} (403: {_message(exc)}): push needs a service account with the "
                    "Admin role (datasources and the alerting provisioning API)"
                ) from None
            error = _NotFound if exc.status_code == 404 else GrafanaRefused
            raise error(f"Grafana refused to {what}: {exc.status_code} {_message(exc)}") from None
        except GrafanaServerError as exc:
            raise GrafanaRefused(f"Grafana failed to {what}: {exc.status_code} {_message(exc)}") from None
        except requests.exceptions.Timeout as exc:
            raise GrafanaUnreachable(f"Grafana at {self.url} did not answer in time ({exc})") from None
        except requests.exceptions.JSONDecodeError:
            raise NotGrafana(f"{self.url} answered {what} with something that is not JSON: not a Grafana") from None
        except (GrafanaException, requests.exceptions.RequestException) as exc:
            raise GrafanaUnreachable(f"cannot reach Grafana at {self.url}: {exc}") from None

    def _read(self, what: str, call: Callable[[], Any]) -> Json | None:
        try:
            with self._translated(what):
                answer = call()
        except _NotFound:
            return None
        if not isinstance(answer, dict):
            raise NotGrafana(f"{self.url} answered {what} with {str(answer)[:80]!r}: not a Grafana")
        return answer

    def _write(self, what: str, call: Callable[[], Any]) -> Any:
        with self._translated(what):
            return call()

    # -- health ----------------------------------------------------------------------------------------------
    def health(self) -> Json:
        """``GET /api/health``: ``{"database": "ok", "version": "11.6.0", ...}`` (no token needed)."""
        try:
            answer = self._read("read /api/health", lambda: self._api.client.GET("/health"))
        except GrafanaRefused as exc:
            raise NotGrafana(f"{self.url} is not a Grafana: {exc}") from None
        if answer is None or "version" not in answer or "database" not in answer:
            raise NotGrafana(f"{self.url} is not a Grafana: /api/health answered {answer!r}")
        return answer

    # -- datasources -----------------------------------------------------------------------------------------
    def datasource(self, uid: str) -> Json | None:
        return self._read(f"read datasource {uid}", lambda: self._api.datasource.get_datasource_by_uid(uid))

    def create_datasource(self, body: Json) -> None:
        self._write(f"create datasource {body['uid']}", lambda: self._api.datasource.create_datasource(body))

    def update_datasource(self, uid: str, body: Json) -> None:
        self._write(f"update datasource {uid}", lambda: self._api.datasource.update_datasource_by_uid(uid, body))

    # -- folders and dashboards ------------------------------------------------------------------------------
    def folder(self, uid: str) -> Json | None:
        return self._read(f"read folder {uid}", lambda: self._api.folder.get_folder(uid))

    def create_folder(self, uid: str, title: str) -> None:
        self._write(f"create folder {uid}", lambda: self._api.folder.create_folder(title, uid=uid))

    def update_folder(self, uid: str, title: str, version: int) -> None:
        self._write(f"rename folder {uid}", lambda: self._api.folder.update_folder(uid, title=title, version=version))

    def dashboard(self, uid: str) -> Json | None:
        """``{"dashboard": {...}, "meta": {"folderUid": ..., "provisioned": ...}}``."""
        return self._read(f"read dashboard {uid}", lambda: self._api.dashboard.get_dashboard(uid))

    def save_dashboard(self, body: Json) -> None:
        """``POST /api/dashboards/db`` with ``{"dashboard", "folderUid", "overwrite", "message"}``."""
        uid = body["dashboard"]["uid"]
        self._write(f"save dashboard {uid}", lambda: self._api.dashboard.update_dashboard(body))

    # -- alert rules -----------------------------------------------------------------------------------------
    def alert_rule(self, uid: str) -> Json | None:
        return self._read(f"read alert rule {uid}", lambda: self._api.alertingprovisioning.get_alertrule(uid))

    def create_alert_rule(self, body: Json) -> None:
        rules = self._api.alertingprovisioning
        self._write(f"create alert rule {body['uid']}", lambda: rules.create_alertrule(body))

    def update_alert_rule(self, uid: str, body: Json) -> None:
        rules = self._api.alertingprovisioning
        self._write(f"update alert rule {uid}", lambda: rules.update_alertrule(uid, body))

    def delete_alert_rule(self, uid: str) -> None:
        rules = self._api.alertingprovisioning
        self._write(f"delete alert rule {uid}", lambda: rules.delete_alertrule(uid))

    def rule_group(self, folder_uid: str, group: str) -> Json | None:
        """``{"title", "folderUid", "interval" (seconds), "rules": [...]}``."""
        rules = self._api.alertingprovisioning
        return self._read(f"read rule group {group}", lambda: rules.get_rule_group(folder_uid, group))

    def update_rule_group(self, folder_uid: str, group: str, body: Json) -> None:
        rules = self._api.alertingprovisioning
        self._write(f"update rule group {group}", lambda: rules.update_rule_group(folder_uid, group, body))
