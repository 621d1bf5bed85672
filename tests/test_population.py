"""Population uniqueness and journalist risk against independent computations.

Each estimator is checked on small class-size tables against a computation
that shares no code with deid.risk.population: exact rational arithmetic
(Zayatz, the journalist closed forms), or the model's definition summed term
by term and solved by another method (Pitman's likelihood, SNB's moment
equations). Agreement is to 1e-9.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from deid.risk import population as pop

# Table A: ties and singletons; pi = 0.1.       n = 5,  u = 4
TIES = ({1: 3, 2: 1}, 50)
# Table B: all four estimates differ; pi = 0.1. n = 26, u = 12
DIFFER = ({1: 8, 2: 2, 7: 2}, 260)
# Table C: the same sample, pi = 1/3: Dankar takes the smaller of Zayatz and SNB.
LARGE_FRACTION = ({1: 8, 2: 2, 7: 2}, 78)


def zayatz_exact(h: dict[int, int], big_n: int) -> Fraction:
    """Zayatz (1991) in exact arithmetic: P(f=1 | F=j) = j C(N-j, n-1) / C(N, n)."""
    n, u = sum(j * c for j, c in h.items()), sum(h.values())

    def one(j: int) -> Fraction:
        return Fraction(j * math.comb(big_n - j, n - 1), math.comb(big_n, n))

    unique = Fraction(h[1], u) * one(1) / sum(Fraction(c, u) * one(j) for j, c in h.items())
    return h[1] * unique * big_n / n


@pytest.mark.parametrize("table", [TIES, DIFFER, LARGE_FRACTION])
def test_zayatz_matches_exact_arithmetic(table) -> None:
    h, big_n = table
    assert pop.zayatz(h, big_n).uniques == pytest.approx(float(zayatz_exact(h, big_n)), abs=1e-9)


def test_zayatz_by_hand_on_the_ties_table() -> None:
    """n = 5, N = 50: P(f=1|F=1) = 5/50 = 1/10; P(f=1|F=2) = 2 C(48,4)/C(50,5) = 9/49.
    P(F=1|f=1) = (3/4)(1/10) / ((3/4)(1/10) + (1/4)(9/49)) = 147/237;
    S1 = 3 * 147/237 * 50/5 = 4410/237."""
    assert zayatz_exact(*TIES) == Fraction(4410, 237)
    assert pop.zayatz(*TIES).uniques == pytest.approx(4410 / 237, abs=1e-9)


def pitman_score_by_loops(h: dict[int, int], theta: float, alpha: float) -> list[float]:
    """The log-likelihood's derivatives as the plain sums of Hoshino (2001)."""
    n, u = sum(j * c for j, c in h.items()), sum(h.values())
    d_theta = sum(1 / (theta + i * alpha) for i in range(1, u))
    d_theta -= sum(1 / (theta + i) for i in range(1, n))
    d_alpha = sum(i / (theta + i * alpha) for i in range(1, u))
    d_alpha -= sum(c * sum(1 / (i - alpha) for i in range(1, j)) for j, c in h.items())
    return [d_theta, d_alpha]


def test_pitman_matches_the_likelihood_solved_by_another_method() -> None:
    h, big_n = DIFFER
    theta, alpha = pop.pitman_parameters(h)
    assert 0 < alpha < 1 and theta > -alpha
    # Solved again from a different start with the loop sums (no digamma).
    other = optimize.fsolve(lambda x: pitman_score_by_loops(h, *x), [1.0, 0.3], xtol=1e-14)
    assert (theta, alpha) == pytest.approx(tuple(other), abs=1e-9)
    expected = math.gamma(other[0] + 1) / math.gamma(other[0] + other[1]) * big_n ** other[1]
    assert pop.pitman(h, big_n).uniques == pytest.approx(expected, abs=1e-9)


def test_pitman_has_no_estimate_without_an_interior_maximum() -> None:
    """Ties and singletons only: the likelihood is largest at alpha = 0 (the
    Ewens limit), where Hoshino's formula does not apply; ARX gives none too."""
    for h in (TIES[0], {1: 5}):
        assert pop.pitman_parameters(h) is None
        assert pop.pitman(h, 50).uniques is None


def snb_probabilities_by_sums(alpha: float, beta: float, pi: float) -> tuple[float, float]:
    """P(f=1), P(f=2) from the model's definition: F = 1 + NB(alpha, beta),
    f ~ binomial(F, pi), summed over F until the terms vanish."""
    sizes = np.arange(1, 20000)
    weights = stats.nbinom.pmf(sizes - 1, alpha, beta)
    return (
        float(np.sum(weights * stats.binom.pmf(1, sizes, pi))),
        float(np.sum(weights * stats.binom.pmf(2, sizes, pi))),
    )


def shlosser_by_hand(h: dict[int, int], q: float) -> float:
    """Haas et al. (1995) D_Sh3, written out from the formula."""
    u, f1 = sum(h.values()), h[1]
    a = sum(j * q**2 * (1 - q**2) ** (j - 1) * c for j, c in h.items())
    b = sum((1 - q) ** j * ((1 + q) ** j - 1) * c for j, c in h.items())
    c_ = sum((1 - q) ** j * c for j, c in h.items())
    d = sum(j * q * (1 - q) ** (j - 1) * c for j, c in h.items())
    return u + f1 * a / b * (c_ / d) ** 2


@pytest.mark.filterwarnings("ignore:xtol")  # fsolve: at full precision already
@pytest.mark.parametrize("table", [TIES, DIFFER, LARGE_FRACTION])
def test_snb_solves_the_model_equations(table) -> None:
    h, big_n = table
    n = sum(j * c for j, c in h.items())
    alpha, beta, k = pop.snb_parameters(h, n / big_n)
    assert k == pytest.approx(shlosser_by_hand(h, n / big_n), abs=1e-9)
    p1, p2 = snb_probabilities_by_sums(alpha, beta, n / big_n)
    assert (k * p1, k * p2) == pytest.approx((h[1], h[2]), abs=1e-9)
    # Solved again with the summed probabilities, from another start.
    other = optimize.fsolve(
        lambda x: [
            k * snb_probabilities_by_sums(x[0], x[1], n / big_n)[0] - h[1],
            k * snb_probabilities_by_sums(x[0], x[1], n / big_n)[1] - h[2],
        ],
        [alpha * 1.2, min(0.99, beta * 0.8)],
        xtol=1e-14,
    )
    assert pop.snb(h, big_n).uniques == pytest.approx(k * other[1] ** other[0], abs=1e-9)


def test_all_estimators_differ_and_dankar_picks_by_sampling_fraction() -> None:
    h, big_n = DIFFER  # pi = 0.1: Pitman
    made = {e.model: e for e in (pop.zayatz(h, big_n), pop.pitman(h, big_n), pop.snb(h, big_n))}
    values = [e.uniques for e in made.values()]
    assert all(v is not None for v in values) and len({round(v, 6) for v in values}) == 3
    assert pop.dankar(h, big_n, made).uniques == made["pitman"].uniques
    h, big_n = LARGE_FRACTION  # pi = 1/3: the smaller of Zayatz and SNB
    made = {e.model: e for e in (pop.zayatz(h, big_n), pop.pitman(h, big_n), pop.snb(h, big_n))}
    chosen = pop.dankar(h, big_n, made)
    assert chosen.uniques == min(made["zayatz"].uniques, made["snb"].uniques)
    assert chosen.uniques != made["pitman"].uniques
    h, big_n = TIES  # pi = 0.1, Pitman has no estimate: Zayatz
    made = {e.model: e for e in (pop.zayatz(h, big_n), pop.pitman(h, big_n), pop.snb(h, big_n))}
    assert pop.dankar(h, big_n, made).uniques == made["zayatz"].uniques


def test_no_sample_uniques_means_no_population_uniques() -> None:
    h = {2: 3, 5: 1}
    for estimate in (pop.zayatz(h, 100), pop.pitman(h, 100), pop.snb(h, 100)):
        assert estimate.uniques == 0


def test_journalist_risk_closed_forms() -> None:
    """E[1/F | f] for F - f ~ NB(f, pi): f = 1 gives -pi ln(pi) / (1 - pi);
    f = 2 gives (1/q)(1 - ln(1 + q)/q) with q = (1 - pi)/pi (the integral of
    u / (1 + q u) over [0, 1]); pi = 1 gives 1/f."""
    h, big_n = TIES
    pi = 5 / 50
    q = (1 - pi) / pi
    one = -pi * math.log(pi) / (1 - pi)
    two = (1 - math.log1p(q) / q) / q
    assert pop.expected_inverse_size(1, pi) == pytest.approx(one, abs=1e-12)
    assert pop.expected_inverse_size(2, pi) == pytest.approx(two, abs=1e-12)
    worst, average = pop.journalist(h, big_n)
    assert worst == pytest.approx(one, abs=1e-12)
    assert average == pytest.approx((3 * one + 2 * two) / 5, abs=1e-12)
    assert pop.journalist(h, 5) == pytest.approx((1.0, (3 * 1 + 2 * 0.5) / 5), abs=1e-12)


@pytest.mark.parametrize("size", [1, 3, 20])
@pytest.mark.parametrize("pi", [0.3, 0.7])
def test_journalist_risk_matches_the_series(size: int, pi: float) -> None:
    """The negative binomial series summed directly."""
    h = np.arange(0, 400)
    terms = stats.nbinom.pmf(h, size, pi) / (size + h)
    assert pop.expected_inverse_size(size, pi) == pytest.approx(float(np.sum(terms)), abs=1e-12)


@pytest.mark.parametrize(("size", "pi"), [(100, 0.01), (1000, 1e-5), (5000, 0.5), (7, 0.999)])
def test_journalist_risk_matches_the_integral_where_2f1_overflows(size: int, pi: float) -> None:
    """E[1/F | f] as the integral of u^(f-1) / (1 + q u) over [0, 1]; scipy's
    hyp2f1 gives inf at f = 100, pi = 0.01."""
    q = (1 - pi) / pi
    expected, _ = integrate.quad(
        lambda u: u ** (size - 1) / (1 + q * u), 0, 1, epsabs=0, epsrel=1e-13, limit=500,
        points=[1 - 1 / size],
    )  # fmt: skip
    assert pop.expected_inverse_size(size, pi) == pytest.approx(expected, rel=1e-10)
