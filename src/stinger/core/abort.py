"""When to stop a run early: the abort rules, a pure policy fed interval counts.

A load test pointed at a dead endpoint measures nothing after a few seconds:
every request fails to connect. Rather than hammer it for the whole schedule
(and blame the endpoint for a 35-minute run), the run stops and says why. The
user adds their own rules with `--abort-on` (`load.abort_on`):

    error_rate>50%          failed / ended over the last 10 s (the default window)
    error_rate>=0.9:30s     over the last 30 s
    connect_rate>80%:5s     connection failures / ended

The default rule (`DEAD_ENDPOINT`): every request that ended in the last 5 s
failed to connect (at least 5 of them), *while the generator kept up*: when a
worker's event loop lagged `GENERATOR_LAG_LIMIT` or more in that window, the
rule does not judge. A starved generator (20,000 req/s on one worker beside a
CPU hog: loop lag p90 5.8 s) falls behind, opens more connections than the
endpoint allows (nginx's 8,192: "worker_connections are not enough") and for
seconds saw nothing end but connect failures: the generator's backlog, not a
dead endpoint, yet the run was aborted as "unreachable" after 330,000 good
answers (2 of 5 soak runs). The user's own rules always judge. Like `core.capacity`, this module
knows no clock, no network and no process: `AbortPolicy.check` is given the
per-interval counts and the run-clock time and answers with a reason or None,
so it is tested with tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from stinger.errors import UsageError

METRICS = ("error_rate", "connect_rate")
DEFAULT_WINDOW = 10.0   # s
MIN_ENDED = 5           # a rule judges a window only when at least this many requests ended in it
GENERATOR_LAG_LIMIT = 1.0   # s: a worse event-loop lag in the window and the default rule does not judge

_RULE = re.compile(r"\s*(?P<metric>[a-z_]+)\s*(?P<op>>=|>)\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<pct>%)?"
                   r"\s*(?::\s*(?P<win>\d+(?:\.\d*)?)\s*s?)?\s*")


@dataclass(frozen=True)
class IntervalCounts:
    """What ended in one interval, summed over variants and workers."""

    ok: int
    failed: int
    connect: int = 0     # of `failed`: could not connect

    @property
    def ended(self) -> int:
        return self.ok + self.failed


@dataclass(frozen=True)
class AbortRule:
    metric: str           # one of METRICS
    op: str               # ">" or ">="
    threshold: float      # a fraction
    window: float = DEFAULT_WINDOW
    text: str = ""

    def holds(self, c: IntervalCounts) -> bool:
        if c.ended < MIN_ENDED:
            return False
        value = (c.failed if self.metric == "error_rate" else c.connect) / c.ended
        return value > self.threshold if self.op == ">" else value >= self.threshold

    def describe(self, c: IntervalCounts) -> str:
        what = "failed" if self.metric == "error_rate" else "failed to connect"
        n = c.failed if self.metric == "error_rate" else c.connect
        if self.text == _DEFAULT_TEXT:
            return (f"aborted: the endpoint is unreachable: {n:,} of {c.ended:,} requests of the last "
                    f"{self.window:g} s {what} (the default abort rule)")
        return f"aborted: {self.text or self.metric} held over the last {self.window:g} s ({n:,} of {c.ended:,} requests {what})"


# every request of the last 5 s failed to connect: the endpoint is down, more load measures nothing
_DEFAULT_TEXT = "default rule: endpoint unreachable"
DEAD_ENDPOINT = AbortRule("connect_rate", ">=", 1.0, window=5.0, text=_DEFAULT_TEXT)


def parse_abort_rule(text: str) -> AbortRule:
    """'error_rate>50%', 'connect_rate>=0.9:30s' -> an AbortRule; anything else -> UsageError."""
    m = _RULE.fullmatch(str(text).lower())
    if m is None or m.group("metric") not in METRICS:
        raise UsageError(f"invalid abort rule {str(text)[:60]!r}: expected e.g. 'error_rate>50%' or "
                         f"'connect_rate>=90%:30s' (metrics: {', '.join(METRICS)})")
    from stinger.core.units import parse_fraction  # here: units imports numpy, a rule's parse needs none

    value = parse_fraction(m.group("num") + (m.group("pct") or ""), what="threshold", allow_over_one=True)
    if not 0 <= value <= 1:
        raise UsageError(f"invalid abort rule {text!r}: the threshold is a fraction between 0 and 1 (or 0-100%)")
    window = float(m.group("win")) if m.group("win") else DEFAULT_WINDOW
    if not 1 <= window <= 3600:
        raise UsageError(f"invalid abort rule {text!r}: the window must be between 1 s and 3600 s")
    return AbortRule(m.group("metric"), m.group("op"), value, window=window, text=str(text).strip())


class AbortPolicy:
    """The rules of one run. `check(intervals, now)`: `intervals` maps an interval index to
    its counts, `interval` is the interval length in s, `now` the run-clock time. A rule
    judges the last `window` seconds of *complete* intervals (those ending at or before
    `now - lag`, the records of the current one may still be on their way), and only once
    the run has been going that long."""

    def __init__(self, rules: list[AbortRule], *, interval: float = 1.0, lag: float = 1.0) -> None:
        self.rules = list(rules)
        self.interval = interval
        self.lag = lag

    @classmethod
    def from_texts(cls, texts: list[str] | None, *, default: bool = True, interval: float = 1.0) -> AbortPolicy:
        rules = [parse_abort_rule(t) for t in texts or ()]
        if default:
            rules.append(DEAD_ENDPOINT)
        return cls(rules, interval=interval)

    def check(self, intervals: Mapping[int, IntervalCounts], now: float,
              generator_lag: float = 0.0) -> str | None:
        """`generator_lag`: the worst event-loop lag (s) of any worker over the default rule's window."""
        last = int((now - self.lag) // self.interval)  # intervals [0, last) are complete
        for rule in self.rules:
            if rule.text == _DEFAULT_TEXT and generator_lag >= GENERATOR_LAG_LIMIT:
                continue   # the generator, not the endpoint, may be why nothing connects
            n = max(1, round(rule.window / self.interval))
            first = last - n
            if first < 0:
                continue
            ok = failed = connect = 0
            for i in range(first, last):
                c = intervals.get(i)
                if c is not None:
                    ok += c.ok
                    failed += c.failed
                    connect += c.connect
            total = IntervalCounts(ok, failed, connect)
            if rule.holds(total):
                return rule.describe(total)
        return None
