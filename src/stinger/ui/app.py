"""The Starlette app of `stinger ui`: the page, its JSON routes, a run's files; behind `guard.Guard`.

    GET  /                       the page (page.html: inline script and style only, strict CSP)
    GET  /api/state              the run in progress (or the last one): status, live state, changes
    GET  /api/runs               the runs of the runs directory
    GET  /api/compare?a=&b=      compare's verdict of two of them
    GET  /runs/NAME/FILE         report.html, summary.json, requests.csv, spec.yaml, events.jsonl
    POST /api/check              the form or spec checked as the CLI checks it: the spec (secrets redacted)
    POST /api/start              checked, then started (one run at a time: 409 while one runs)
    POST /api/change             {"rate": 200} or {"users": 20} while it runs
    POST /api/stop               stop it (cleanly; SIGTERM after a grace period)

A mistake in the form is 400 with the CLI's one line (`{"error": ...}`), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from stinger.ui import form as form_mod
from stinger.ui import runs as runs_mod
from stinger.ui.guard import Guard
from stinger.ui.runner import Busy, NotRunning, Runner

# the page: its own inline script and style, fetches to its own origin, nothing else
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
       "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# a run's report: inline style and SVG, no script
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY"}
MAX_BODY = 2 << 20

# (argv) -> (the Spec, its data with secrets redacted), or raises Invalid(the CLI's one line); given by cli/ui.py
Check = Callable[[list[str]], "tuple[Any, dict[str, Any]]"]
# an exception -> the CLI's one line for it, None when it is not a user's mistake; given by cli/ui.py
Explain = Callable[[BaseException], "str | None"]


class Invalid(Exception):
    """The form or spec is the user's mistake: the CLI's one line."""


def _page() -> bytes:
    return resources.files("stinger.ui").joinpath("page.html").read_bytes()


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status, headers=_HEADERS)


def _ok(data: Any) -> JSONResponse:
    return JSONResponse(data, headers=_HEADERS)


class UiApp:
    def __init__(self, runs_dir: Path, check: Check, explain: Explain, *, runner: Runner | None = None,
                 control: bool = True) -> None:
        self.runs_dir = Path(runs_dir)
        self.check, self.explain = check, explain
        self.runner = runner or Runner(self.runs_dir, control=control)
        self._specs = Path(tempfile.mkdtemp(prefix="stinger-ui-"))   # pasted specs, private (0700), one per start

    def warm_up(self) -> None:
        """Import what a check imports (the target kinds, the spec's models, the preflight: ~2 s cold on a busy
        machine) now, before the URL is printed, not on the first click. Nothing is contacted: a check
        connects nowhere."""
        from stinger.orchestrate.preflight import preflight_opened

        try:   # (plain HTTP has no preflight of its own: nothing is contacted)
            spec, _ = self.check(["--url", "http://127.0.0.1:9/", "--rate", "1", "--duration", "1s"])
            preflight_opened(spec)
        except Exception:   # a warm-up: the first real check reports what it finds
            pass

    # -- reading the request
    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise Invalid("the request is larger than 2 MiB")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise Invalid("expected a JSON object") from None
        if not isinstance(data, dict):
            raise Invalid("expected a JSON object")
        return data

    def _argv(self, data: dict[str, Any]) -> tuple[list[str], str | None, tuple[Path, ...]]:
        """The run's arguments from the form (and a pasted spec, saved as the SPEC file), its load model."""
        from stinger.errors import UsageError

        form = data.get("form") or {}
        if not isinstance(form, dict):
            raise Invalid("expected form fields")
        try:
            argv = form_mod.argv_from_form(form)
            model = form_mod.load_model(form)
        except UsageError as exc:
            raise Invalid(str(exc)) from None
        spec_text = data.get("spec")
        files: tuple[Path, ...] = ()
        if isinstance(spec_text, str) and spec_text.strip():
            fd, name = tempfile.mkstemp(prefix="spec-", suffix=".yaml", dir=self._specs)
            with os.fdopen(fd, "w", encoding="utf-8") as fp:
                fp.write(spec_text)
            files = (Path(name),)
            argv = [name, *argv]
        return argv, model, files

    def _checked(self, argv: list[str]) -> dict[str, Any]:
        """The CLI's check of the run's arguments, then what the run checks before any load (`preflight_opened`:
        the SLOs' grammar, the dataset opened, the target's own check): the same one line either way."""
        from stinger.orchestrate.preflight import preflight_opened

        spec, shown = self.check([*argv, *self.runner.own_flags()])
        try:
            preflight_opened(spec)
        except Exception as exc:
            line = self.explain(exc)
            if line is None:
                raise
            raise Invalid(line) from None
        return shown

    # -- routes
    async def page(self, request: Request) -> Response:
        return Response(_page(), media_type="text/html; charset=utf-8", headers={**_HEADERS, "Content-Security-Policy": CSP})

    async def state(self, request: Request) -> Response:
        return _ok(self.runner.state())

    async def list_runs(self, request: Request) -> Response:
        return _ok({"runs": await asyncio.to_thread(runs_mod.list_runs, self.runs_dir)})

    async def compare(self, request: Request) -> Response:
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        try:
            return _ok(await asyncio.to_thread(runs_mod.compare_runs, self.runs_dir, a, b))
        except ValueError as exc:
            return _error(404, str(exc))
        except Exception as exc:   # a user's mistake in compare (runs that cannot be compared): its one line
            line = self.explain(exc)
            if line is None:
                raise
            return _error(400, line)

    async def run_file(self, request: Request) -> Response:
        path = runs_mod.file_path(self.runs_dir, request.path_params["name"], request.path_params["file"])
        if path is None:
            return _error(404, "no such run or file")
        file = path.name
        headers = dict(_HEADERS)
        if file == "report.html":
            headers["Content-Security-Policy"] = REPORT_CSP
            return FileResponse(path, media_type=runs_mod.FILES[file], headers=headers)
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return FileResponse(path, media_type=runs_mod.FILES[file], headers=headers,
                            filename=f"{request.path_params['name']}-{file}")

    async def check_route(self, request: Request) -> Response:
        try:
            argv, model, files = self._argv(await self._body(request))
            try:
                spec = await asyncio.to_thread(self._checked, argv)
            finally:
                for f in files:
                    f.unlink(missing_ok=True)
        except Invalid as exc:
            return _error(400, str(exc))
        return _ok({"ok": True, "spec": spec, "model": model})

    async def start(self, request: Request) -> Response:
        files: tuple[Path, ...] = ()
        try:
            argv, model, files = self._argv(await self._body(request))
            spec = await asyncio.to_thread(self._checked, argv)
            model = model or _spec_model(spec)
            pid = self.runner.start(argv, model=model, spec=spec, cleanup=files)
        except Invalid as exc:
            for f in files:
                f.unlink(missing_ok=True)
            return _error(400, str(exc))
        except Busy as exc:
            for f in files:
                f.unlink(missing_ok=True)
            return _error(409, str(exc))
        return _ok({"ok": True, "pid": pid, "model": model})

    async def change(self, request: Request) -> Response:
        try:
            data = await self._body(request)
        except Invalid as exc:
            return _error(400, str(exc))
        keys = [k for k in ("rate", "users") if data.get(k) not in (None, "")]
        if len(keys) != 1:
            return _error(400, "expected one of rate (requests per second) or users")
        key = keys[0]
        try:
            value = float(data[key])
        except (TypeError, ValueError):
            return _error(400, f"{key}: {data[key]!r} is not a number")
        if not (value > 0 and value < 1e9) or (key == "users" and value != int(value)):
            return _error(400, f"{key}: {data[key]!r}, expected a {'whole ' if key == 'users' else ''}number > 0")
        try:
            return _ok({"ok": True, "change": self.runner.change(key, value)})
        except NotRunning as exc:
            return _error(409, str(exc))

    async def stop(self, request: Request) -> Response:
        try:
            self.runner.stop()
        except NotRunning as exc:
            return _error(409, str(exc))
        return _ok({"ok": True})

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/api/state", self.state, methods=["GET"]),
            Route("/api/runs", self.list_runs, methods=["GET"]),
            Route("/api/compare", self.compare, methods=["GET"]),
            Route("/runs/{name}/{file}", self.run_file, methods=["GET"]),
            Route("/api/check", self.check_route, methods=["POST"]),
            Route("/api/start", self.start, methods=["POST"]),
            Route("/api/change", self.change, methods=["POST"]),
            Route("/api/stop", self.stop, methods=["POST"]),
        ]


def _spec_model(spec: dict[str, Any]) -> str:
    load = spec.get("load") or {}
    return "users" if load.get("users") is not None else "rate"


def make_app(ui: UiApp, *, token: str, port: int, public: bool) -> Guard:
    """The app behind its guard (`guard.Guard`): Host, method and token checked first."""
    app = Starlette(routes=ui.routes(), on_shutdown=[ui.runner.shutdown])
    return Guard(app, token=token, port=port, public=public)
