"""The form's fields as `stinger run` arguments: the CLI's own flags, so the CLI's own parser and
resolution check them (`cli/ui.py` hands the app that check) and the run is the CLI's.

A pasted spec is the SPEC argument (a file in the UI's private folder); the fields given beside it
are flags, and flags win, as on the command line. An empty field is no flag.
"""

from __future__ import annotations

from typing import Any

from stinger.errors import UsageError

# the target's kind -> its flag (the same as `stinger run --help` lists)
KINDS = {"http": "--url", "openai": "--openai", "kserve": "--kserve", "anthropic": "--anthropic"}
# field -> flag, for one-value fields
FIELDS = (("model", "--model"), ("method", "--method"), ("body", "--body"), ("data", "--data"),
          ("content_type", "--content-type"), ("duration", "--duration"), ("warmup", "--warmup"),
          ("name", "--name"), ("timeout", "--timeout"), ("check_status", "--check-status"))
# field -> flag, for one value a line
LINES = (("slo", "--slo"), ("monitor", "--monitor"), ("header", "--header"), ("goodput", "--goodput"))
MAX_FIELD = 1 << 20   # a pasted spec or a body past 1 MiB is not typed into a form


def _text(form: dict[str, Any], key: str) -> str:
    value = form.get(key)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise UsageError(f"form field {key}: expected text")
    text = str(value)
    if len(text) > MAX_FIELD:
        raise UsageError(f"form field {key}: longer than 1 MiB")
    return text.strip() if key != "body" else text


def load_model(form: dict[str, Any]) -> str | None:
    """'rate' (open model) or 'users' (closed), as the form chose; None when the spec decides."""
    model = _text(form, "model_kind") or ("users" if _text(form, "users") else "rate" if _text(form, "rate") else "")
    if model and model not in ("rate", "users"):
        raise UsageError(f"form field model_kind: {model!r}, expected rate or users")
    return model or None


def argv_from_form(form: dict[str, Any]) -> list[str]:
    """`stinger run` arguments (without SPEC and the UI's own --out/--control/--dashboard) from the form."""
    argv: list[str] = []
    url = _text(form, "url")
    if url:
        kind = _text(form, "kind") or "http"
        if kind not in KINDS:
            raise UsageError(f"form field kind: {kind!r}, expected one of {', '.join(KINDS)}")
        argv += [KINDS[kind], url]
    for key, flag in FIELDS:
        value = _text(form, key)
        if value:
            argv += [flag, value]
    model = load_model(form)
    if model is not None:
        value = _text(form, model)
        if value:
            argv += [f"--{model}", value]
    for key, flag in LINES:
        for line in _text(form, key).splitlines():
            if line.strip():
                argv += [flag, line.strip()]
    if form.get("save_requests"):
        argv += ["--save-requests", "csv"]
    return argv
