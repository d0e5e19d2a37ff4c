"""What an endpoint said with its errors (a model container's error message), as record notes.

A target reads an error's own text at flush time (`targets.base.Interpretation.messages`:
error kind -> the first message of that kind in the batch). The worker's flush turns
each *distinct* one into a note of its interval record (`core.records.IntervalRecord.notes`),
once per worker, the coordinator keeps each note once across workers, and the summary
puts the message beside its error count (`parse` reads the note back).

A note is plain text a person can read as it is, e.g.

    model_error on B: ModelError: Received client error (400) from primary with message "..."

The message is redacted (`core.secrets.redact_text`: URL credentials, bearer tokens, AWS key
ids, JWTs, secret-named values, every secret the spec held) and made one line of at most `MAX_CHARS` characters before it
leaves the worker, so neither a secret nor a megabyte of stack trace reaches a run
directory or the pipe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stinger.core.secrets import redact_text

MAX_CHARS = 200
_NOTE = re.compile(r"^(?P<kind>[a-z][a-z0-9_]*) on (?P<variants>[^:]+): (?P<message>.+)$", re.S)


def clean(message: str) -> str:
    """One line, redacted, at most MAX_CHARS characters (an ellipsis marks the cut)."""
    text = redact_text(message)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 3].rstrip() + "..."


def note(kind: str, variants: Iterable[str], message: str) -> str:
    """The note for `message`, an error of `kind` (its label) seen on `variants`."""
    return f"{kind} on {', '.join(variants)}: {clean(message)}"


def parse(text: str) -> tuple[str, list[str], str] | None:
    """(kind, variants, message) of a note made by `note`; None for any other note."""
    m = _NOTE.match(text)
    if m is None:
        return None
    return m["kind"], m["variants"].split(", "), m["message"]
