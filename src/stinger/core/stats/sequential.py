"""Sequential A/B testing: an always-valid mixture SPRT that may stop as soon as the data decide."""

from __future__ import annotations

import math

import numpy as np


class _Moments:
    __slots__ = ("n", "mean", "m2")

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        n, mean = x.size, float(x.mean())
        m2 = float(np.sum((x - mean) ** 2))
        total = self.n + n
        delta = mean - self.mean
        # Chan et al.'s pairwise update: stable for long runs, unlike sum of squares.
        self.m2 += m2 + delta**2 * self.n * n / total
        self.mean += delta * n / total
        self.n = total

    @property
    def var(self) -> float:
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0


class SequentialTest:
    """Always-valid test of B - A for a mean or a proportion: mixture SPRT (Johari et al. 2017/2022).

    Checking a fixed-n p-value after every batch and stopping at the first
    p < alpha inflates false positives far beyond alpha. The mSPRT instead
    compares, at every look, the Gaussian-mixture likelihood ratio
        Lambda_n = sqrt(V / (V + tau^2)) exp(tau^2 theta^2 / (2 V (V + tau^2)))
    (theta = mean_b - mean_a, V its plug-in variance) with 1/alpha. Under H0,
    Lambda_n is a martingale with mean 1, so by Ville's inequality it ever
    exceeds 1/alpha with probability <= alpha however often one looks;
    ``p_value`` = min over looks of 1/Lambda_n is the always-valid p-value.

    ``tau`` is the scale of effects worth detecting, in the metric's units (ms,
    or a fraction for proportions): set it to the smallest effect worth
    detecting (`stinger plan`'s, or ``ab --min-effect``). The mixture then puts
    its weight where that effect's evidence will be; a tau far below it (the
    old default, 0.1 sd) needs a much larger z to stop (a +5 ms shift at z ~ 7
    after 10 s stopped only at 27 s). None: the pooled sd of the observations
    when both arms first reach ``min_n`` (the sd carries no information about
    the difference under H0, so this does not spend alpha). No decision before
    ``min_n`` per arm, because the plug-in variance is only trustworthy after that.
    Observations are assumed independent: feed per-request values from a
    well-mixed stream, or per-interval means when requests are correlated.

    ``paired=True``: observation k of A and of B belong together (the same
    second of a split or paired run); the test runs on the differences B - A,
    so what a second does to both variants cancels.

    What to report: `reported` is one look's estimate with that look's own
    interval (the look that decided, once the test has; else the latest). Each
    look's interval is an always-valid (1 - alpha) interval by itself, and at the
    deciding look it excludes 0 exactly when the test decided. `interval`, the
    running intersection of all looks, is tighter but its ends come from
    different looks, so it can exclude the current estimate ("-2.54 ms, CI
    [-0.87, 0.49]" was reported so).
    """

    def __init__(self, *, alpha: float = 0.05, tau: float | None = None, metric: str = "mean",
                 min_n: int = 100, paired: bool = False) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if metric not in ("mean", "proportion"):
            raise ValueError(f"metric must be 'mean' or 'proportion', got {metric!r}")
        if tau is not None and tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if paired and metric != "mean":
            raise ValueError("paired=True is for metric='mean'")
        self.alpha, self.tau, self.metric, self.min_n = alpha, tau, metric, max(int(min_n), 2)
        self.paired = paired
        self._a, self._b, self._d = _Moments(), _Moments(), _Moments()
        self.p_value = 1.0
        self.decision = "continue"
        self._ci = (-math.inf, math.inf)
        self._look: tuple[float, float, float, int] | None = None   # (estimate, low, high, n) of one look

    @property
    def n_a(self) -> int:
        return self._a.n

    @property
    def n_b(self) -> int:
        return self._b.n

    @property
    def estimate(self) -> float:
        """Current B - A."""
        return self._d.mean if self.paired else self._b.mean - self._a.mean

    @property
    def interval(self) -> tuple[float, float]:
        """Always-valid (1 - alpha) confidence sequence for B - A (running intersection)."""
        return self._ci

    @property
    def reported(self) -> tuple[float, float, float, int] | None:
        """(estimate, low, high, observations per arm) of the look that decided, or the latest look
        while undecided: an estimate and the always-valid interval that belongs to it. None before
        the first look past ``min_n``."""
        return self._look

    def _var(self, arm: _Moments) -> float:
        if self.metric == "proportion":
            return arm.mean * (1 - arm.mean)
        return arm.var

    def update(self, a_values: np.ndarray, b_values: np.ndarray) -> str:
        """Add a batch of observations for each arm (either may be empty); return the decision."""
        a = np.asarray(a_values, dtype=np.float64).ravel()
        b = np.asarray(b_values, dtype=np.float64).ravel()
        if self.metric == "proportion" and (np.any((a != 0) & (a != 1)) or np.any((b != 0) & (b != 1))):
            raise ValueError("metric='proportion' takes 0/1 (or bool) observations")
        if self.paired and a.size != b.size:
            raise ValueError(f"paired=True takes equal-length batches, got {a.size} and {b.size}")
        self._a.add(a)
        self._b.add(b)
        if self.paired:
            self._d.add(b - a)
        if min(self._a.n, self._b.n) < self.min_n:
            return self.decision
        if self.paired:
            v = self._d.var / self._d.n
            spread = self._d.var
        else:
            va, vb = self._var(self._a), self._var(self._b)
            v = va / self._a.n + vb / self._b.n
            spread = ((self._a.n - 1) * va + (self._b.n - 1) * vb) / (self._a.n + self._b.n - 2)
        if v <= 0:
            return self.decision
        if self.tau is None:
            if spread <= 0:
                return self.decision
            self.tau = math.sqrt(spread)
        t2 = self.tau**2
        theta = self.estimate
        log_lr = 0.5 * math.log(v / (v + t2)) + t2 * theta**2 / (2 * v * (v + t2))
        self.p_value = min(self.p_value, math.exp(-log_lr)) if log_lr < 700 else 0.0
        half = math.sqrt(v * (v + t2) / t2 * (math.log((v + t2) / v) - 2 * math.log(self.alpha)))
        self._ci = (max(self._ci[0], theta - half), min(self._ci[1], theta + half))
        if self.decision != "different":   # once decided, the deciding look is the one reported
            self._look = (theta, theta - half, theta + half, min(self._a.n, self._b.n))
        if self.p_value <= self.alpha:
            self.decision = "different"
        return self.decision
