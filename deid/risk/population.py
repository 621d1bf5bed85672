"""Population uniqueness and journalist risk, from the sample's class sizes.

A data set is usually a sample of a larger population (the hospital's
patients, a region). A patient unique in the sample may share its values
with people outside it; what matters to a journalist (who does not know who
is in the data) is uniqueness in the population. These estimators infer it
from the frequencies of class sizes in the sample (f_j = number of classes
of size j; n patients, u classes) and the population size N (pi = n / N):

- Zayatz (1991), "Estimation of the percent of unique population elements
  on a microdata file using the sample", US Census Bureau SRD Research
  Report RR-91/08: Bayes' rule with the population's class-size
  distribution taken from the sample's, P(f = 1 | F = j) hypergeometric.
- Pitman's sampling formula as applied by Hoshino (2001), "Applying
  Pitman's sampling formula to microdata disclosure risk assessment",
  Journal of Official Statistics 17(4): 499-520: (theta, alpha) by maximum
  likelihood from the sample's partition, population uniques
  ~ Gamma(theta + 1) / Gamma(theta + alpha) * N^alpha.
- SNB, the slide negative binomial model of Chen & Keller-McNulty (1998),
  "Estimation of identification disclosure risk in microdata", Journal of
  Official Statistics 14(1): 79-95: population class sizes F = 1 + NB(alpha,
  beta) over K classes, sample sizes binomial(F, pi); (alpha, beta) by
  matching the expected numbers of sample classes of size 1 and 2; K
  estimated with Shlosser's third estimator (Haas, Naughton, Seshadri &
  Stokes 1995, "Sampling-based estimation of the number of distinct values
  of an attribute", VLDB: 311-322); population uniques K * beta^alpha.
- Dankar, El Emam, Neisa & Roffey (2012), "Estimating the re-identification
  risk of clinical data sets", BMC Medical Informatics and Decision Making
  12:66: a decision rule between the three, read as ARX implements it
  (pi <= 0.1: Pitman, or Zayatz where Pitman has no estimate; pi > 0.1: the
  smaller of Zayatz and SNB, or Zayatz where SNB has none).

Journalist risk per patient is E[1/F | f], the expected inverse size of its
class in the population given its size f in the sample, under the model of
Benedetti & Franconi (1998, "Statistical and technological solutions for
controlled data dissemination", NTTS'98), the individual risk of mu-ARGUS:
F - f negative binomial(f, pi) for a uniform sampling fraction, which gives
E[1/F | f] = integral_0^1 u^(f-1) / (1 + q u) du with q = (1 - pi) / pi.
With pi = 1 it is 1/f, the prosecutor risk.

ARX (arx.deidentifier.org) is the reference tool; its conventions are kept
(no sample uniques: every estimate is 0; an estimate outside [0, N] is no
estimate). Its SNB code differs from the model above in two places, where
this module follows the published formulas: the second moment equation
divides by (1 - d)^(alpha + 2) (derived below and checked against the
model's probabilities in the tests), and Shlosser's denominator is
sum (1 - pi)^j ((1 + pi)^j - 1) f_j.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

Histogram = Mapping[int, int]  # class size -> number of classes of that size

DANKAR_PITMAN_BELOW = 0.1  # sampling fraction at or below which Dankar picks Pitman


@dataclass(frozen=True)
class Estimate:
    """Estimated number of population uniques, or why there is none."""

    model: str
    uniques: float | None
    reason: str = ""

    def share(self, population: int) -> float | None:
        return None if self.uniques is None else self.uniques / population


def _sample(h: Histogram) -> tuple[int, int, int, int]:
    n = sum(size * count for size, count in h.items())
    return n, sum(h.values()), h.get(1, 0), h.get(2, 0)


def _checked(model: str, value: float, population: int) -> Estimate:
    if not math.isfinite(value) or value < 0 or value > population:
        return Estimate(model, None, f"the estimate ({value:.4g}) is outside [0, N]")
    return Estimate(model, value)


# --------------------------------------------------------------------------
# Zayatz


def zayatz(h: Histogram, population: int) -> Estimate:
    """S1 = f1 * P(F = 1 | f = 1) * N / n, where
    P(F = 1 | f = 1) = (f1/u) P(f=1|F=1) / sum_j (f_j/u) P(f=1|F=j)."""
    n, u, f1, _ = _sample(h)
    if f1 == 0:
        return Estimate("zayatz", 0.0)
    weights = {size: count / u for size, count in h.items()}
    one = {size: float(stats.hypergeom.pmf(1, population, size, n)) for size in h}
    total = sum(weights[size] * one[size] for size in h)
    if total <= 0:
        return Estimate("zayatz", None, "no class size can give a sample unique")
    unique = weights[1] * one[1] / total
    return _checked("zayatz", f1 * unique * population / n, population)


# --------------------------------------------------------------------------
# Pitman (Hoshino 2001)


def _pitman_parts(h: Histogram, theta: float, alpha: float) -> tuple:
    """Sums of the log-likelihood's derivatives in closed form (digamma, trigamma).

    L = sum_{i<u} log(theta + i alpha) - sum_{i<n} log(theta + i)
        + sum_j f_j sum_{i<j} log(i - alpha)
    """
    n, u, _, _ = _sample(h)
    r = theta / alpha
    a1 = (special.digamma(r + u) - special.digamma(r + 1)) / alpha  # sum 1/(theta + i alpha)
    a2 = (special.polygamma(1, r + 1) - special.polygamma(1, r + u)) / alpha**2  # squared
    b1 = special.digamma(theta + n) - special.digamma(theta + 1)
    b2 = special.polygamma(1, theta + 1) - special.polygamma(1, theta + n)
    d1 = sum(c * (special.digamma(j - alpha) - special.digamma(1 - alpha)) for j, c in h.items())
    d2 = sum(
        c * (special.polygamma(1, 1 - alpha) - special.polygamma(1, j - alpha))
        for j, c in h.items()
    )
    return n, u, a1, a2, b1, b2, d1, d2


def _pitman_score(h: Histogram, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    theta, alpha = float(x[0]), float(x[1])
    n, u, a1, a2, b1, b2, d1, d2 = _pitman_parts(h, theta, alpha)
    c1 = ((u - 1) - theta * a1) / alpha  # sum i/(theta + i alpha)
    ci2 = (a1 - theta * a2) / alpha  # sum i/(theta + i alpha)^2
    ii2 = ((u - 1) - 2 * theta * a1 + theta**2 * a2) / alpha**2  # sum i^2/(...)^2
    score = np.array([a1 - b1, c1 - d1])
    hessian = np.array([[b2 - a2, -ci2], [-ci2, -ii2 - d2]])
    return score, hessian


def _pitman_loglik(h: Histogram, theta: float, alpha: float) -> float:
    n, u, _, _ = _sample(h)
    value = (
        (u - 1) * math.log(alpha)
        + special.gammaln(theta / alpha + u)
        - special.gammaln(theta / alpha + 1)
        - special.gammaln(theta + n)
        + special.gammaln(theta + 1)
    )
    for j, c in h.items():
        value += c * (special.gammaln(j - alpha) - special.gammaln(1 - alpha))
    return float(value)


def _pitman_theta(h: Histogram, alpha: float) -> float | None:
    """theta maximising L for a fixed alpha: d L / d theta falls from +inf
    near theta = -alpha to (u - n) / theta < 0 far out."""

    def d_theta(theta: float) -> float:
        return float(_pitman_score(h, np.array([theta, alpha]))[0][0])

    low, high = -alpha + 1e-12 * max(alpha, 1e-3), 1.0
    while d_theta(high) > 0:
        high *= 4
        if high > 1e12:
            return None
    return optimize.brentq(d_theta, low, high, xtol=1e-14, rtol=1e-15, maxiter=500)


def pitman_parameters(h: Histogram) -> tuple[float, float] | None:
    """Maximum-likelihood (theta, alpha) with 0 < alpha < 1, or None when the
    likelihood has no interior maximum (e.g. every class a singleton)."""
    n, u, _, _ = _sample(h)
    if u < 2 or u >= n:
        return None

    def profile(alpha: float) -> float:
        theta = _pitman_theta(h, alpha)
        return math.inf if theta is None else -_pitman_loglik(h, theta, alpha)

    found = optimize.minimize_scalar(
        profile, bounds=(1e-6, 1 - 1e-6), method="bounded", options={"xatol": 1e-10}
    )
    alpha = float(found.x)
    if not found.success or alpha < 1e-5 or alpha > 1 - 1e-5:
        return None  # the maximum is at alpha = 0 (Ewens) or 1: no Pitman estimate
    theta = _pitman_theta(h, alpha)
    if theta is None:
        return None
    return _newton(lambda x: _pitman_score(h, x), np.array([theta, alpha]))


def _newton(
    score: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], x: np.ndarray
) -> tuple[float, float]:
    """A few Newton steps polish a root found by bracketing to full precision."""
    for _ in range(20):
        value, jacobian = score(x)
        try:
            step = np.linalg.solve(jacobian, value)
        except np.linalg.LinAlgError:
            break
        x = x - step
        if np.all(np.abs(step) <= 1e-15 * np.maximum(1.0, np.abs(x))):
            break
    return float(x[0]), float(x[1])


def pitman(h: Histogram, population: int) -> Estimate:
    """Hoshino (2001): population uniques ~ Gamma(theta+1)/Gamma(theta+alpha) N^alpha."""
    if h.get(1, 0) == 0:
        return Estimate("pitman", 0.0)
    params = pitman_parameters(h)
    if params is None:
        return Estimate("pitman", None, "the likelihood has no maximum with 0 < alpha < 1")
    theta, alpha = params
    value = math.exp(
        special.gammaln(theta + 1) - special.gammaln(theta + alpha) + alpha * math.log(population)
    )
    return _checked("pitman", value, population)


# --------------------------------------------------------------------------
# SNB (Chen & Keller-McNulty 1998)


def shlosser_classes(h: Histogram, fraction: float) -> float:
    """Haas et al. (1995) D_Sh3: the number of non-empty classes in the population.

    u + f1 * [sum j q^2 (1-q^2)^(j-1) f_j / sum (1-q)^j ((1+q)^j - 1) f_j]
           * [sum (1-q)^j f_j / sum j q (1-q)^(j-1) f_j]^2
    """
    _, u, f1, _ = _sample(h)
    q = fraction
    num1 = sum(j * q * q * (1 - q * q) ** (j - 1) * c for j, c in h.items())
    den1 = sum((1 - q) ** j * ((1 + q) ** j - 1) * c for j, c in h.items())
    num2 = sum((1 - q) ** j * c for j, c in h.items())
    den2 = sum(j * q * (1 - q) ** (j - 1) * c for j, c in h.items())
    if den1 <= 0 or den2 <= 0:
        return float(u)
    return u + f1 * (num1 / den1) * (num2 / den2) ** 2


def snb_probabilities(alpha: float, beta: float, fraction: float) -> tuple[float, float]:
    """P(f = 1) and P(f = 2) for one population class under the SNB model.

    F = 1 + G, G ~ NB(alpha, beta); f | F ~ binomial(F, pi). With
    w = 1 - pi + pi z the generating function of f is h(w) = w (beta / (1 - (1-beta) w))^alpha,
    and P(f = s) = pi^s h^(s)(1 - pi) / s!. With d = (1 - pi)(1 - beta):
      P(f=1) = pi beta^alpha (1 - d)^-(alpha+1) (1 + (alpha - 1) d)
      P(f=2) = pi^2/2 alpha beta^alpha (1 - beta) (1 - d)^-(alpha+2) (2 + (alpha - 1) d)
    """
    d = (1 - fraction) * (1 - beta)
    base = alpha * math.log(beta)
    p1 = fraction * math.exp(base - (alpha + 1) * math.log1p(-d)) * (1 + (alpha - 1) * d)
    p2 = (
        fraction**2
        / 2
        * alpha
        * (1 - beta)
        * math.exp(base - (alpha + 2) * math.log1p(-d))
        * (2 + (alpha - 1) * d)
    )
    return p1, p2


def snb_parameters(h: Histogram, fraction: float) -> tuple[float, float, float] | None:
    """(alpha, beta, K) solving K P(f=1) = f1 and K P(f=2) = f2, or None."""
    _, _, f1, f2 = _sample(h)
    if f1 == 0 or f2 == 0 or fraction >= 1:
        return None
    k = shlosser_classes(h, fraction)

    def residual(x: np.ndarray) -> np.ndarray:
        alpha, beta = math.exp(x[0]), special.expit(x[1])
        p1, p2 = snb_probabilities(alpha, beta, fraction)
        if p1 <= 0 or p2 <= 0:
            return np.array([1e6, 1e6])
        return np.array([math.log(k * p1 / f1), math.log(k * p2 / f2)])

    for start in _snb_starts(residual):
        # Success is judged by the residual: at full precision the solver
        # reports that it can no longer improve, which is not a failure.
        found = optimize.root(residual, start, method="hybr", tol=1e-14)
        if np.all(np.abs(residual(found.x)) < 1e-11):
            return math.exp(found.x[0]), float(special.expit(found.x[1])), k
    return None


def _snb_starts(residual: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Starting points for the solver: the best few of a coarse grid over
    log(alpha) and logit(beta) (the equations are steep; one fixed start
    misses solutions that exist)."""
    grid = [
        np.array([a, b]) for a in np.linspace(-6, 6, 25) for b in np.linspace(-12, 12, 25)
    ]
    grid.sort(key=lambda x: float(np.sum(np.abs(residual(x)))))
    return grid[:5]


def snb(h: Histogram, population: int) -> Estimate:
    n, _, f1, f2 = _sample(h)
    if f1 == 0:
        return Estimate("snb", 0.0)
    if f2 == 0:
        return Estimate("snb", None, "needs classes of size 2 in the sample")
    if n >= population:
        return Estimate("snb", None, "the data set is the whole population")
    params = snb_parameters(h, n / population)
    if params is None:
        return Estimate("snb", None, "the model's equations have no solution")
    alpha, beta, k = params
    return _checked("snb", k * beta**alpha, population)


# --------------------------------------------------------------------------
# Dankar et al. (2012)


def dankar(h: Histogram, population: int, estimates: Mapping[str, Estimate]) -> Estimate:
    """The decision rule, over estimates already made by the three models."""
    n, _, f1, _ = _sample(h)
    if f1 == 0:
        return Estimate("dankar", 0.0, "no sample uniques")
    zay, pit, sn = estimates["zayatz"], estimates["pitman"], estimates["snb"]
    if n / population <= DANKAR_PITMAN_BELOW:
        chosen = pit if _valid(pit) else zay
    elif _valid(sn) and sn.uniques is not None and zay.uniques is not None:
        chosen = zay if zay.uniques < sn.uniques else sn
    else:
        chosen = zay
    return Estimate("dankar", chosen.uniques, f"uses {chosen.model}" + _why(chosen))


def _valid(e: Estimate) -> bool:
    return e.uniques is not None and e.uniques != 0


def _why(e: Estimate) -> str:
    return f" ({e.reason})" if e.reason else ""


# --------------------------------------------------------------------------
# Journalist risk


def expected_inverse_sizes(largest: int, fraction: float) -> list[float]:
    """E[1/F | f] for f = 1..largest (Benedetti & Franconi 1998), as
    I_f = integral_0^1 u^(f-1) / (1 + q u) du with q = (1 - pi) / pi.

    Computed without a hypergeometric routine (scipy's 2F1 overflows to inf
    at f = 100, pi = 0.01): for q > 1, I_1 = ln(1 + q) / q and the recursion
    I_(f+1) = (1/f - I_f) / q, which damps rounding errors by 1/q each step;
    for q <= 1, I_f = (1 / (f (1 + q))) sum_m m! / (f+1)_m w^m with
    w = q / (1 + q) <= 1/2 (the Pfaff transformation), a fast series.
    """
    if fraction >= 1:
        return [1 / f for f in range(1, largest + 1)]
    q = (1 - fraction) / fraction
    if q > 1:
        values = [math.log1p(q) / q]
        for f in range(1, largest):
            values.append((1 / f - values[-1]) / q)
        return values
    w = q / (1 + q)
    values = []
    for f in range(1, largest + 1):
        term = total = 1.0
        m = 0
        while term > 1e-18 * total:
            m += 1
            term *= m * w / (f + m)
            total += term
        values.append(total / (f * (1 + q)))
    return values


def expected_inverse_size(size: int, fraction: float) -> float:
    return expected_inverse_sizes(size, fraction)[-1]


def journalist(h: Histogram, population: int) -> tuple[float, float]:
    """Maximum and average (over patients) of E[1/F | f]; it falls as f grows,
    so the maximum is that of the smallest class."""
    n, _, _, _ = _sample(h)
    risks = expected_inverse_sizes(max(h), n / population)
    average = sum(size * count * risks[size - 1] for size, count in h.items()) / n
    return risks[min(h) - 1], average
