"""When requests should start: arrival processes, load shapes and user profiles.

This module owns the *plan in time* of a run and nothing else:

* `RateProfile` -- the offered rate r(t) in requests per second over
  [0, duration), piecewise linear (flat steps are linear pieces with zero
  slope; a jump is two pieces meeting at one instant). It knows its integral
  Λ(t) = ∫0^t r and the inverse Λ⁻¹, both vectorised.
* `Schedule` -- the arrival times of one open-model run. Arrival k happens at
  Λ⁻¹(x_k): with ``x_k = k`` for evenly spaced ("constant") arrivals and
  ``x_k = E_1 + ... + E_{k+1}`` (E_i ~ Exp(1), seeded) for a Poisson process.
  Mapping a unit-rate process through Λ⁻¹ is the time-change theorem: it gives
  exactly the right counts under any shape, with no thinning and no loop.
* `UsersProfile` -- the closed model: how many concurrent users at time t.
* `parse_duration`, `parse_rate` -- re-exported from `stinger.core.units`, which
  owns the text forms users type ("2m", "100/s").

Times are float seconds from the run start. The sequence is a pure function of
(profile, arrival, seed, limits): every worker process rebuilds the same global
sequence and keeps its share by global request id, so nothing is exchanged.
To make that hold whatever chunk size a caller asks for, arrivals are generated
in fixed internal blocks (`_BLOCK`) and only then re-cut into chunks: a
floating-point running sum depends on where it is split, so the split points
must not depend on the caller.

No asyncio, no network: this is pure maths on numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

# Unit parsing lives in core/units.py; parse_duration and parse_rate are re-exported
# here because callers have always imported them from the schedule.
from stinger.core.units import format_number, format_seconds, is_number, parse_duration, parse_rate
from stinger.errors import DatasetError, UsageError

__all__ = [
    "RateProfile",
    "Schedule",
    "UsersProfile",
    "constant",
    "parse_duration",
    "parse_rate",
    "piecewise",
    "ramp",
    "spike",
    "spread_trace",
    "steps",
    "steps_linear",
    "trace_schedule",
    "users_constant",
    "users_ramp",
    "users_steps",
]

# Arrivals are generated in blocks of this many, whatever chunk size is asked
# for, so the sequence (including float rounding) is the same for every caller.
_BLOCK = 65_536

ARRIVALS = ("constant", "poisson")


def _positive(name: str, value: float) -> float:
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _rate_ok(name: str, value: float, *, zero: bool) -> float:
    bad = not is_number(value) or not math.isfinite(value) or value < 0 or (value == 0 and not zero)
    if bad:
        want = ">= 0" if zero else "> 0"
        raise UsageError(f"{name} must be {want} (requests per second), got {value!r}")
    return float(value)


# ---------------------------------------------------------------- rate profile
class RateProfile:
    """An offered rate r(t) in req/s over [0, duration); piecewise linear.

    Built from segments; segment i covers [start[i], end[i]) and its rate goes
    linearly from r0[i] to r1[i]. An open-ended profile (``duration is None``)
    has a last segment of infinite length and constant positive rate, and is
    stopped by a request count instead. Outside [0, duration) the rate is 0.
    """

    __slots__ = ("_start", "_end", "_r0", "_r1", "_slope", "_cum", "duration", "_text")

    def __init__(self, segments: Sequence[tuple[float, float, float]], *, text: str = "") -> None:
        """`segments`: (length, rate at start, rate at end); the last length may be inf."""
        if not segments:
            raise UsageError("a rate profile needs at least one segment")
        lengths = np.array([s[0] for s in segments], dtype=np.float64)
        r0 = np.array([s[1] for s in segments], dtype=np.float64)
        r1 = np.array([s[2] for s in segments], dtype=np.float64)
        if np.any(~(lengths > 0)) or np.any(np.isinf(lengths[:-1])):
            raise UsageError("every segment of a rate profile must last > 0 seconds")
        if np.any(~np.isfinite(r0)) or np.any(~np.isfinite(r1)) or np.any(r0 < 0) or np.any(r1 < 0):
            raise UsageError("rates in a profile must be finite and >= 0")
        open_ended = bool(np.isinf(lengths[-1]))
        if open_ended and not (r0[-1] == r1[-1] and r0[-1] > 0):
            raise UsageError("an open-ended profile must end with a constant rate > 0")
        if not np.any((r0 > 0) | (r1 > 0)):
            raise UsageError("a rate profile must have some rate > 0 (it is 0 everywhere)")
        self._start = np.concatenate(([0.0], np.cumsum(lengths)[:-1]))
        self._end = self._start + lengths
        self._r0 = r0
        self._r1 = r1
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(np.isinf(lengths), 0.0, (r1 - r0) / lengths)
        self._slope = slope
        # Λ at the start of each segment, plus Λ(duration) at the end (inf when open-ended)
        area = np.where(np.isinf(lengths), np.inf, 0.5 * (r0 + r1) * lengths)
        self._cum = np.concatenate(([0.0], np.cumsum(area)))
        self.duration: float | None = None if open_ended else float(self._end[-1])
        self._text = text

    # -- evaluation
    def _segment(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self._start, t, side="right") - 1, 0, len(self._start) - 1)

    def rate_at(self, t: float | np.ndarray) -> float | np.ndarray:
        """r(t); 0 outside [0, duration). At a jump, the rate just after it."""
        ta = np.asarray(t, dtype=np.float64)
        i = self._segment(ta)
        r = self._r0[i] + self._slope[i] * (ta - self._start[i])
        inside = (ta >= 0) & (ta < (np.inf if self.duration is None else self.duration))
        out = np.where(inside, r, 0.0)
        return float(out) if out.ndim == 0 else out

    def cumulative(self, t: float | np.ndarray) -> float | np.ndarray:
        """Λ(t) = ∫0^t r: expected arrivals by time t (flat before 0 and after the end)."""
        ta = np.asarray(t, dtype=np.float64)
        end = np.inf if self.duration is None else self.duration
        tc = np.clip(ta, 0.0, end)
        i = self._segment(tc)
        u = tc - self._start[i]
        out = self._cum[i] + self._r0[i] * u + 0.5 * self._slope[i] * u * u
        return float(out) if out.ndim == 0 else out

    def inverse_cumulative(self, x: float | np.ndarray) -> float | np.ndarray:
        """Λ⁻¹(x) = inf{t : Λ(t) > x}; inf when the profile never reaches x.

        The strict inequality makes the inverse right-continuous: an arrival
        whose x falls exactly on a zero-rate stretch is placed where the rate
        becomes positive again, never inside the pause. Within a segment it
        solves r0·u + a·u²/2 = d in the cancellation-free form
        u = 2d / (r0 + sqrt(r0² + 2ad)), which is exact for flat segments
        (u = d/r0) and well defined for a ramp starting at 0.
        """
        xa = np.asarray(x, dtype=np.float64)
        cum = self._cum
        # segment i with cum[i] <= x < cum[i+1]; zero-area segments are skipped by construction
        i = np.searchsorted(cum, xa, side="right") - 1
        beyond = (i >= len(self._start)) | np.isnan(xa)
        i = np.clip(i, 0, len(self._start) - 1)
        d = np.maximum(xa - cum[i], 0.0)
        r0 = self._r0[i]
        a = self._slope[i]
        flat = a == 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            disc = np.sqrt(np.maximum(r0 * r0 + 2.0 * a * d, 0.0))
            den = r0 + disc
            u_curved = np.where(den > 0, 2.0 * d / np.where(den > 0, den, 1.0), 0.0)
            u_flat = d / np.where(r0 > 0, r0, 1.0)
        u = np.where(flat, u_flat, u_curved)
        # guard against rounding pushing a point past its segment's end
        t = np.minimum(self._start[i] + u, self._end[i])
        out = np.where(beyond, np.inf, t)
        return float(out) if out.ndim == 0 else out

    @property
    def total(self) -> float:
        """Λ(duration): expected arrivals over the whole profile (inf when open-ended)."""
        return float(self._cum[-1])

    @property
    def peak(self) -> float:
        """The highest rate anywhere in the profile."""
        return float(max(self._r0.max(), self._r1.max()))

    def knots(self) -> list[tuple[float, float, float, float]]:
        """(start, end, rate at start, rate at end) per segment, for plots and reports."""
        return [(float(s), float(e), float(a), float(b)) for s, e, a, b in zip(self._start, self._end, self._r0, self._r1)]

    def scaled(self, factor: float) -> RateProfile:
        """The same shape at `factor` times the rate (a paired run's `variants x rate` of requests)."""
        if not (is_number(factor) and math.isfinite(factor) and factor > 0):
            raise UsageError(f"a rate profile's scale must be a positive number, got {factor!r}")
        segs = [(float(e - s), float(a) * factor, float(b) * factor)
                for s, e, a, b in zip(self._start, self._end, self._r0, self._r1)]
        text = f"{self._text} (x{format_number(factor)})" if self._text else ""
        return RateProfile(segs, text=text)

    def describe(self) -> str:
        """A one-line human description, e.g. 'constant 100/s for 30s'."""
        return self._text or f"piecewise profile, {len(self._start)} segments, peak {format_number(self.peak)}/s"

    def __repr__(self) -> str:
        return f"<RateProfile {self.describe()}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RateProfile):
            return NotImplemented
        return self.knots() == other.knots()

    def __hash__(self) -> int:
        return hash(tuple(self.knots()))

    def __getstate__(self) -> tuple:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple) -> None:
        for k, v in zip(self.__slots__, state):
            object.__setattr__(self, k, v)


def constant(rate: float, duration: float | None = None) -> RateProfile:
    """A flat rate; open-ended (stop by request count) when `duration` is None."""
    rate = _rate_ok("rate", rate, zero=False)
    if duration is None:
        return RateProfile([(math.inf, rate, rate)], text=f"constant {format_number(rate)}/s")
    duration = _positive("duration", duration)
    return RateProfile([(duration, rate, rate)], text=f"constant {format_number(rate)}/s for {format_seconds(duration)}")


def ramp(start: float, end: float, over: float, *, hold: float = 0.0) -> RateProfile:
    """Linear from `start` to `end` req/s over `over` seconds, then `end` held for `hold` seconds."""
    start = _rate_ok("ramp start", start, zero=True)
    end = _rate_ok("ramp end", end, zero=True)
    over = _positive("ramp length", over)
    if start == 0 and end == 0:
        raise UsageError("a ramp must reach a rate > 0, got start 0 and end 0")
    if not is_number(hold) or not math.isfinite(hold) or hold < 0:
        raise UsageError(f"ramp hold must be >= 0 seconds, got {hold!r}")
    segs = [(over, start, end)]
    text = f"ramp {format_number(start)} -> {format_number(end)}/s over {format_seconds(over)}"
    if hold > 0:
        segs.append((float(hold), end, end))
        text += f", hold {format_seconds(hold)}"
    return RateProfile(segs, text=text)


def steps(levels: Sequence[tuple[float, float]]) -> RateProfile:
    """Flat levels held in turn: (rate, duration) pairs. A level may be 0 (a pause)."""
    levels = list(levels)
    if not levels:
        raise UsageError("steps need at least one (rate, duration) level, got none")
    segs = []
    for n, level in enumerate(levels):
        try:
            rate, length = level
        except (TypeError, ValueError):
            raise UsageError(f"step {n + 1} must be a (rate, duration) pair, got {level!r}") from None
        rate = _rate_ok(f"step {n + 1} rate", rate, zero=True)
        length = _positive(f"step {n + 1} duration", length)
        segs.append((length, rate, rate))
    if all(s[1] == 0 for s in segs):
        raise UsageError("steps must have some level with rate > 0, got all 0")
    text = "steps " + ", ".join(f"{format_number(r)}/s x {format_seconds(d)}" for d, r, _ in segs)
    return RateProfile(segs, text=text)


def steps_linear(start: float, step: float, count: int, each: float) -> RateProfile:
    """`count` levels start, start+step, ... each held for `each` seconds."""
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 1:
        raise UsageError(f"step count must be an integer >= 1, got {count!r}")
    if not is_number(step) or not math.isfinite(step):
        raise UsageError(f"step increment must be a number, got {step!r}")
    levels = [(start + k * step, each) for k in range(int(count))]
    bad = [r for r, _ in levels if r < 0]
    if bad:
        raise UsageError(f"steps from {start!r} by {step!r} reach a negative rate {bad[0]!r}; expected rates >= 0")
    return steps(levels)


def spike(baseline: float, height: float, *, at: float, length: float, duration: float) -> RateProfile:
    """`baseline` req/s, `height` req/s (absolute) on [at, at+length), baseline again until `duration`.

    The tail after the spike is there to watch the recovery.
    """
    baseline = _rate_ok("spike baseline", baseline, zero=True)
    height = _rate_ok("spike height", height, zero=False)
    length = _positive("spike length", length)
    duration = _positive("spike duration", duration)
    if not is_number(at) or not math.isfinite(at) or at < 0:
        raise UsageError(f"spike start ('at') must be >= 0 seconds, got {at!r}")
    if at + length > duration:
        raise UsageError(f"spike ends at {format_number(at + length)}s, after the duration {format_number(duration)}s; expected at + length <= duration")
    segs = []
    if at > 0:
        segs.append((float(at), baseline, baseline))
    segs.append((length, height, height))
    if duration - at - length > 0:
        segs.append((duration - at - length, baseline, baseline))
    text = f"spike {format_number(baseline)}/s -> {format_number(height)}/s at {format_seconds(at)} for {format_seconds(length)}, {format_seconds(duration)} in all"
    return RateProfile(segs, text=text)


def piecewise(points: Sequence[tuple[float, float]], *, interpolate: bool = True) -> RateProfile:
    """A profile through (t, rate) knots; the first knot is at t=0, the last one ends the profile.

    interpolate=True: linear between knots. interpolate=False: each knot's rate is
    held until the next knot (so the last knot's rate only marks the end).
    """
    pts = list(points)
    if len(pts) < 2:
        raise UsageError(f"a piecewise profile needs at least two (t, rate) knots, got {len(pts)}")
    try:
        ts = [float(p[0]) for p in pts]
        rs = [float(p[1]) for p in pts]
    except (TypeError, ValueError, IndexError):
        raise UsageError(f"piecewise knots must be (t seconds, rate) pairs, got {pts!r}") from None
    if ts[0] != 0:
        raise UsageError(f"the first piecewise knot must be at t=0, got t={ts[0]:g}")
    for k in range(1, len(ts)):
        if not ts[k] > ts[k - 1] or not math.isfinite(ts[k]):
            raise UsageError(f"piecewise knot times must increase, got {ts[k - 1]:g} then {ts[k]:g}")
    for r in rs:
        _rate_ok("piecewise rate", r, zero=True)
    if interpolate:
        segs = [(ts[k + 1] - ts[k], rs[k], rs[k + 1]) for k in range(len(ts) - 1)]
    else:
        segs = [(ts[k + 1] - ts[k], rs[k], rs[k]) for k in range(len(ts) - 1)]
    if not any(s[1] > 0 or s[2] > 0 for s in segs):
        raise UsageError("a piecewise profile must have some rate > 0, got all 0")
    kind = "linear" if interpolate else "stepped"
    text = f"piecewise ({kind}) " + ", ".join(f"{format_number(r)}/s@{format_number(t)}s" for t, r in zip(ts, rs))
    return RateProfile(segs, text=text)


# --------------------------------------------------------------------- arrivals
class Schedule:
    """The arrival times of one open-model run, generated lazily in chunks.

    Either a `profile` (with `arrival` "constant" or "poisson") or a `trace`
    (offsets in seconds, e.g. from `trace_schedule`) gives the times. The run
    stops at the profile's duration or after `max_requests`, whichever comes
    first; `duration` (optional) cuts earlier still.
    """

    def __init__(
        self,
        profile: RateProfile | None,
        *,
        arrival: str = "constant",
        seed: int = 0,
        max_requests: int | None = None,
        trace: np.ndarray | None = None,
        duration: float | None = None,
    ) -> None:
        if arrival not in ARRIVALS:
            raise UsageError(f"arrival must be one of {', '.join(ARRIVALS)}, got {arrival!r}")
        if (profile is None) == (trace is None):
            raise UsageError("a schedule needs exactly one of a rate profile or a trace")
        if max_requests is not None and (
            not isinstance(max_requests, (int, np.integer)) or isinstance(max_requests, bool) or max_requests < 1
        ):
            raise UsageError(f"max requests must be an integer >= 1, got {max_requests!r}")
        if duration is not None:
            duration = _positive("duration", duration)
        self.profile = profile
        self.arrival = arrival
        self.seed = int(seed)
        self.max_requests = None if max_requests is None else int(max_requests)
        self.trace: np.ndarray | None = None
        if trace is not None:
            tr = np.asarray(trace, dtype=np.float64).ravel()
            if tr.size and (not np.all(np.isfinite(tr)) or np.any(np.diff(tr) < 0) or tr[0] < 0):
                raise UsageError("a trace must be finite, non-decreasing offsets >= 0 seconds")
            self.trace = tr
        ends = [d for d in (duration, None if profile is None else profile.duration) if d is not None]
        self.end: float = min(ends) if ends else math.inf
        if profile is not None and math.isinf(self.end) and self.max_requests is None:
            raise UsageError("an open-ended rate needs a duration or a request count to stop")

    # -- the sequence
    def _blocks(self) -> Iterator[np.ndarray]:
        """Arrival times in fixed blocks of `_BLOCK` (the last one shorter), uncut."""
        if self.trace is not None:
            for k in range(0, len(self.trace), _BLOCK):
                yield self.trace[k:k + _BLOCK]
            return
        profile = self.profile
        assert profile is not None
        rng = np.random.Generator(np.random.PCG64(self.seed)) if self.arrival == "poisson" else None
        base = 0.0  # x of the last arrival of the previous block (Poisson) or the next index (constant)
        k = 0
        while True:
            if rng is None:
                x = np.arange(k, k + _BLOCK, dtype=np.float64)
            else:
                x = base + np.cumsum(rng.standard_exponential(_BLOCK))
                base = float(x[-1])
            k += _BLOCK
            yield np.asarray(profile.inverse_cumulative(x), dtype=np.float64)

    def chunks(self, size: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(global ids int64, times float64) chunks in ascending order until the end.

        The sequence does not depend on `size`. A worker w of W keeps
        ``ids % W == w`` (equivalently ``chunk[w::W]`` when size is a multiple of W).
        """
        if size < 1:
            raise ValueError(f"chunk size must be >= 1, got {size}")
        limit = math.inf if self.max_requests is None else self.max_requests
        next_id = 0
        pending: list[np.ndarray] = []
        npending = 0
        for block in self._blocks():
            stop = False
            cut = int(np.searchsorted(block, self.end, side="left"))  # keep t < end
            if cut < len(block):
                block = block[:cut]
                stop = True
            if next_id + npending + len(block) >= limit:
                block = block[: int(limit - next_id - npending)]
                stop = True
            pending.append(block)
            npending += len(block)
            while npending >= size or (stop and npending):
                buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
                take = buf[:size]
                rest = buf[size:]
                pending = [rest] if len(rest) else []
                npending = len(rest)
                yield np.arange(next_id, next_id + len(take), dtype=np.int64), take
                next_id += len(take)
            if stop:
                return
        if npending:
            buf = np.concatenate(pending)
            yield np.arange(next_id, next_id + len(buf), dtype=np.int64), buf

    def times(self, limit: int | None = None) -> np.ndarray:
        """The whole sequence (or its first `limit` arrivals) as one array; for tests and plots."""
        out: list[np.ndarray] = []
        n = 0
        for _, t in self.chunks(_BLOCK):
            out.append(t)
            n += len(t)
            if limit is not None and n >= limit:
                break
        arr = np.concatenate(out) if out else np.empty(0)
        return arr if limit is None else arr[:limit]

    # -- expectations
    def offered_rate(self, t0: float, t1: float) -> float:
        """Expected arrivals per second over [t0, t1) (0 outside the run).

        For a profile this is ∫r/(t1-t0), cut at the schedule's end; a request
        count limit is not modelled (it ends the run early, which the engine
        reports). For a trace it is the trace's own count in the window.
        """
        if not t1 > t0:
            raise ValueError(f"offered_rate needs t1 > t0, got [{t0}, {t1})")
        a, b = max(t0, 0.0), min(t1, self.end)
        if b <= a:
            return 0.0
        if self.trace is not None:
            n = int(np.searchsorted(self.trace, b, side="left") - np.searchsorted(self.trace, a, side="left"))
            if self.max_requests is not None:
                lo = min(int(np.searchsorted(self.trace, a, side="left")), self.max_requests)
                hi = min(int(np.searchsorted(self.trace, b, side="left")), self.max_requests)
                n = hi - lo
            return float(n) / (t1 - t0)
        assert self.profile is not None
        return float(self.profile.cumulative(b) - self.profile.cumulative(a)) / (t1 - t0)

    @property
    def total_expected(self) -> float | None:
        """Expected number of arrivals in the run; None when unbounded (cannot happen once built)."""
        if self.trace is not None:
            n = int(np.searchsorted(self.trace, self.end, side="left"))
            return float(n if self.max_requests is None else min(n, self.max_requests))
        assert self.profile is not None
        expected = float(self.profile.cumulative(self.end)) if math.isfinite(self.end) else math.inf
        if self.max_requests is not None:
            expected = min(expected, float(self.max_requests))
        return None if math.isinf(expected) else expected

    def describe(self) -> str:
        if self.trace is not None:
            return f"trace of {len(self.trace)} arrivals"
        assert self.profile is not None
        limits = []
        if self.max_requests is not None:
            limits.append(f"at most {self.max_requests} requests")
        if self.profile.duration is None or self.end < self.profile.duration:
            if math.isfinite(self.end):
                limits.append(f"for {format_seconds(self.end)}")
        tail = f" ({', '.join(limits)})" if limits else ""
        return f"{self.profile.describe()}, {self.arrival} arrivals{tail}"


# ----------------------------------------------------------------------- traces
def spread_trace(trace: np.ndarray, n: int) -> np.ndarray:
    """Each arrival of `trace` as `n` arrivals spread evenly over the gap to the next one (the
    last keeps the gap before it): a paired replay's `n` variants at instants of their own,
    each within its captured arrival's gap."""
    tr = np.asarray(trace, dtype=np.float64).ravel()
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n == 1 or tr.size == 0:
        return tr.copy()
    gaps = np.diff(tr)
    gaps = np.append(gaps, gaps[-1] if gaps.size else 0.0)
    return (tr[:, None] + gaps[:, None] * (np.arange(n) / n)[None, :]).ravel()


def trace_schedule(path: str | Path, *, kind: str = "auto") -> np.ndarray:
    """Offsets (seconds, starting at 0) read from a file with one number a line.

    kind="timestamps": absolute or relative times, non-decreasing; the first
    becomes 0. kind="gaps": the waits between consecutive requests (>= 0); the
    first gap is the wait before the first request, which is dropped so the
    trace starts at 0. kind="auto": timestamps, if the values are
    non-decreasing and the first is >= 0, else an error that suggests "gaps".

    Blank lines and lines starting with '#' are skipped; the first line may be
    a header; on a CSV line the first field is used. Anything else unreadable
    raises `DatasetError` with the line number.
    """
    if kind not in ("auto", "timestamps", "gaps"):
        raise UsageError(f"trace kind must be auto, timestamps or gaps, got {kind!r}")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise DatasetError(f"cannot read trace file {str(p)!r}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise DatasetError(f"trace file {str(p)!r} is not UTF-8 text; expected one number a line") from None
    values: list[float] = []
    lines: list[int] = []
    first_content = True
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        field = line.split(",", 1)[0].strip().strip('"')
        try:
            v = float(field)
        except ValueError:
            if first_content:  # a header
                first_content = False
                continue
            raise DatasetError(f"{p.name} line {lineno}: expected a number of seconds, got {field[:40]!r}") from None
        first_content = False
        if not math.isfinite(v):
            raise DatasetError(f"{p.name} line {lineno}: expected a finite number of seconds, got {field[:40]!r}")
        values.append(v)
        lines.append(lineno)
    if not values:
        raise DatasetError(f"{p.name}: no timestamps found; expected one number a line")
    arr = np.asarray(values, dtype=np.float64)
    if kind == "gaps":
        neg = np.flatnonzero(arr < 0)
        if neg.size:
            k = int(neg[0])
            raise DatasetError(f"{p.name} line {lines[k]}: a gap must be >= 0 seconds, got {values[k]:g}")
        out = np.cumsum(arr)
        return out - out[0]
    if arr[0] < 0:
        hint = "" if kind == "timestamps" else "; if the file holds gaps, use kind='gaps'"
        raise DatasetError(f"{p.name} line {lines[0]}: timestamps must be >= 0, got {values[0]:g}{hint}")
    down = np.flatnonzero(np.diff(arr) < 0)
    if down.size:
        k = int(down[0]) + 1
        hint = "" if kind == "timestamps" else "; if the file holds gaps, use kind='gaps'"
        raise DatasetError(
            f"{p.name} line {lines[k]}: timestamps must not decrease ({values[k]:g} after {values[k - 1]:g}){hint}"
        )
    return arr - arr[0]


# ------------------------------------------------------------------ closed model
class UsersProfile:
    """Concurrent users over time for the closed model, piecewise linear and floored.

    `users_at(t)` is the number of users that should be active at t; a ramp
    adds (or removes) one user each time the linear target crosses an integer,
    so 0 -> 10 users over 10 s adds one user a second. 0 outside [0, duration).
    """

    __slots__ = ("_start", "_end", "_u0", "_u1", "duration", "_text")

    def __init__(self, segments: Sequence[tuple[float, int, int]], *, text: str = "") -> None:
        """`segments`: (length, users at start, users at end); the last length may be inf."""
        if not segments:
            raise UsageError("a users profile needs at least one level")
        lengths = [float(s[0]) for s in segments]
        if any(not x > 0 for x in lengths) or any(math.isinf(x) for x in lengths[:-1]):
            raise UsageError("every level of a users profile must last > 0 seconds")
        self._start: list[float] = []
        acc = 0.0
        for x in lengths:
            self._start.append(acc)
            acc += x
        self._end = [s + x for s, x in zip(self._start, lengths)]
        self._u0 = [int(s[1]) for s in segments]
        self._u1 = [int(s[2]) for s in segments]
        self.duration: float | None = None if math.isinf(acc) else acc
        self._text = text

    def users_at(self, t: float) -> int:
        if t < 0 or (self.duration is not None and t >= self.duration):
            return 0
        i = max(0, int(np.searchsorted(self._start, t, side="right")) - 1)
        u0, u1 = self._u0[i], self._u1[i]
        if u0 == u1:
            return u0
        frac = (t - self._start[i]) / (self._end[i] - self._start[i])
        # a tiny epsilon so t exactly at k/N seconds lands on k despite rounding
        step = math.floor(frac * abs(u1 - u0) + 1e-9)
        return u0 + step if u1 > u0 else u0 - step

    @property
    def peak(self) -> int:
        """The most users at any time."""
        return max(max(self._u0), max(self._u1))

    def describe(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<UsersProfile {self.describe()}>"

    def __getstate__(self) -> tuple:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple) -> None:
        for k, v in zip(self.__slots__, state):
            object.__setattr__(self, k, v)


def _users_ok(name: str, n: object, *, zero: bool) -> int:
    ok = isinstance(n, (int, np.integer)) and not isinstance(n, bool) and (n >= 0 if zero else n >= 1)
    if not ok:
        raise UsageError(f"{name} must be an integer {'>= 0' if zero else '>= 1'}, got {n!r}")
    return int(n)  # type: ignore[call-overload]  # checked above: an int or numpy integer


def users_constant(n: int, duration: float | None = None) -> UsersProfile:
    """`n` users throughout; open-ended when `duration` is None."""
    n = _users_ok("users", n, zero=False)
    if duration is None:
        return UsersProfile([(math.inf, n, n)], text=f"{n} users")
    duration = _positive("duration", duration)
    return UsersProfile([(duration, n, n)], text=f"{n} users for {format_seconds(duration)}")


def users_ramp(start: int, end: int, over: float, hold: float = 0.0) -> UsersProfile:
    """From `start` to `end` users over `over` seconds, then `end` for `hold` seconds."""
    start = _users_ok("ramp start users", start, zero=True)
    end = _users_ok("ramp end users", end, zero=True)
    over = _positive("ramp length", over)
    if start == 0 and end == 0:
        raise UsageError("a users ramp must reach at least 1 user, got start 0 and end 0")
    if not is_number(hold) or not math.isfinite(hold) or hold < 0:
        raise UsageError(f"ramp hold must be >= 0 seconds, got {hold!r}")
    segs = [(over, start, end)]
    text = f"ramp {start} -> {end} users over {format_seconds(over)}"
    if hold > 0:
        segs.append((float(hold), end, end))
        text += f", hold {format_seconds(hold)}"
    return UsersProfile(segs, text=text)


def users_steps(levels: Sequence[tuple[int, float]]) -> UsersProfile:
    """(users, duration) levels held in turn; a level may be 0 users (a pause)."""
    levels = list(levels)
    if not levels:
        raise UsageError("user steps need at least one (users, duration) level, got none")
    segs = []
    for k, level in enumerate(levels):
        try:
            n, length = level
        except (TypeError, ValueError):
            raise UsageError(f"user step {k + 1} must be a (users, duration) pair, got {level!r}") from None
        n = _users_ok(f"step {k + 1} users", n, zero=True)
        segs.append((_positive(f"step {k + 1} duration", length), n, n))
    if all(s[1] == 0 for s in segs):
        raise UsageError("user steps must have some level with >= 1 user, got all 0")
    text = "steps " + ", ".join(f"{n} users x {format_seconds(d)}" for d, n, _ in segs)
    return UsersProfile(segs, text=text)
