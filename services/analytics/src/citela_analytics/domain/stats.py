"""Running sums of answers and the Student t intervals computed from them.

Importance and satisfaction are integers (1–5), so every running sum is an integer: adding
and removing answers in any order gives exactly the sums of a recomputation from scratch,
and the figures derived from equal sums are equal, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Sums:
    """Sufficient statistics of the answers of one cell (a service, an area, a day…).

    ``sum_gap`` is derived: Σ(importance − satisfaction) = Σimportance − Σsatisfaction.
    """

    n: int = 0
    sum_imp: int = 0
    sum_imp_sq: int = 0
    sum_sat: int = 0
    sum_sat_sq: int = 0
    sum_gap_sq: int = 0

    @classmethod
    def of(cls, importance: int, satisfaction: int) -> Sums:
        gap = importance - satisfaction
        return cls(1, importance, importance**2, satisfaction, satisfaction**2, gap**2)

    @property
    def sum_gap(self) -> int:
        return self.sum_imp - self.sum_sat

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.n + other.n,
            self.sum_imp + other.sum_imp,
            self.sum_imp_sq + other.sum_imp_sq,
            self.sum_sat + other.sum_sat,
            self.sum_sat_sq + other.sum_sat_sq,
            self.sum_gap_sq + other.sum_gap_sq,
        )

    def __neg__(self) -> Sums:
        return Sums(
            -self.n,
            -self.sum_imp,
            -self.sum_imp_sq,
            -self.sum_sat,
            -self.sum_sat_sq,
            -self.sum_gap_sq,
        )

    def __sub__(self, other: Sums) -> Sums:
        return self + (-other)

    @property
    def empty(self) -> bool:
        return self.n == 0

    def importance(self, confidence: float = 0.95) -> Estimate:
        return estimate(self.n, self.sum_imp, self.sum_imp_sq, confidence)

    def satisfaction(self, confidence: float = 0.95) -> Estimate:
        return estimate(self.n, self.sum_sat, self.sum_sat_sq, confidence)

    def gap(self, confidence: float = 0.95) -> Estimate:
        return estimate(self.n, self.sum_gap, self.sum_gap_sq, confidence)


def total(sums: list[Sums] | tuple[Sums, ...]) -> Sums:
    out = Sums()
    for s in sums:
        out = out + s
    return out


@dataclass(frozen=True, slots=True)
class Estimate:
    """Mean of n answers, sample standard deviation, and the t interval of the mean.

    With n < 2 the standard deviation and the interval are undefined (None).
    """

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def margin(self) -> float | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_high - self.ci_low) / 2

    def contains(self, value: float) -> bool:
        """True when ``value`` lies inside the closed interval (the interval straddles it)."""
        if self.ci_low is None or self.ci_high is None:
            return True
        return self.ci_low <= value <= self.ci_high


def estimate(n: int, total: int, total_sq: int, confidence: float = 0.95) -> Estimate:
    """Mean, sample sd (n − 1 denominator) and ``confidence`` t interval from running sums."""
    if n <= 0:
        return Estimate(0, None, None, None, None)
    mean = total / n
    if n < 2:
        return Estimate(n, mean, None, None, None)
    # n·Σx² − (Σx)² is an exact integer: no cancellation, whatever the size of the sums.
    numerator = n * total_sq - total * total
    variance = max(numerator, 0) / (n * (n - 1))
    sd = math.sqrt(variance)
    half = t_quantile((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
    return Estimate(n, mean, sd, mean - half, mean + half)


# --- Student t distribution ----------------------------------------------------------------


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: int) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    x = df / (df + t * t)
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=8192)
def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t (e.g. p = 0.975 for a 95 % two-sided interval)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if df < 1:
        raise ValueError("df must be at least 1")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):  # bisection: the bracket halves to float resolution
        mid = (low + high) / 2.0
        if mid in (low, high):
            break
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0
