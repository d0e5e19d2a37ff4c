"""The flush thread passes each distinct error message a target read on once, capped per kind."""

from __future__ import annotations

from stinger.core.records import Kind
from stinger.engine.batch import NOTES_PER_KIND, Flusher


def _flusher() -> Flusher:
    f = Flusher.__new__(Flusher)     # only the note bookkeeping is exercised here
    f.noted, f.new_notes = set(), []
    return f


def test_each_distinct_message_once_and_capped_per_kind():
    f = _flusher()
    f._note_messages({int(Kind.MODEL_ERROR): "ModelError: boom"}, ["A"])
    f._note_messages({int(Kind.MODEL_ERROR): "ModelError: boom"}, ["A"])
    assert f._notes(("tls note",)) == ("tls note", "model_error on A: ModelError: boom")
    assert f._notes(()) == ()                               # sent once, not again
    f._note_messages({int(Kind.MODEL_ERROR): "ModelError: boom"}, ["A"])
    assert f._notes(()) == ()
    for i in range(20):                                     # a request id in every message
        f._note_messages({int(Kind.MODEL_ERROR): f"ModelError: request {i} failed",
                          int(Kind.THROTTLED): "ThrottlingException: Rate exceeded"}, ["A"])
    notes = f._notes(())
    assert sum(n.startswith("model_error ") for n in notes) == NOTES_PER_KIND - 1
    assert notes.count("throttled on A: ThrottlingException: Rate exceeded") == 1
