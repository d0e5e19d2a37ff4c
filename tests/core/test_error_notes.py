"""Error messages as record notes: one line, redacted, truncated, read back."""

from __future__ import annotations

from stinger.core import error_notes, secrets


def test_note_is_one_redacted_truncated_line_and_parses_back():
    secrets.remember_secrets({"headers": {"X-Api-Key": "sk-live-1234567890"}})
    text = ("ModelError: Received client error (400) from primary with message\n  'bad input for key "
            "sk-live-1234567890 at https://user:pw@example.com/x' " + "x" * 400)
    line = error_notes.note("model_error", ["A", "B"], text)
    kind, variants, message = error_notes.parse(line)
    assert (kind, variants) == ("model_error", ["A", "B"])
    assert "\n" not in message and len(message) == error_notes.MAX_CHARS and message.endswith("...")
    assert "sk-live-1234567890" not in message and "pw@" not in message
    assert message.startswith("ModelError: Received client error (400) from primary with message 'bad input")


def test_other_notes_do_not_parse():
    assert error_notes.parse("TLS handshake failed (bad cert); those requests are counted as 'tls'") is None
    assert error_notes.parse("") is None
