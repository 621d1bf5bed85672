"""The data set's re-identification risk, as one assessment a privacy officer can sign.

From the per-file quasi-identifier rows of a scan: one record per patient,
classes and the sample's exact figures (`kanon`), population uniqueness and
journalist risk where a population size is given (`population`), and where
the risk comes from with computed advice (`advice`). Its findings are
reported with the others but gated on their own (`--max-risk`,
`--fail-on-dataset`): a small clean data set can never be 5-anonymous, and
that alone must not fail a pipeline that did not ask for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deid.risk.advice import AttributeRisk, ClassList, Effect, Option, Variant, best, evaluate
from deid.risk.findings import Finding, Severity
from deid.risk.generalise import Generalisation, candidates, removal
from deid.risk.kanon import STUDY_COUNT, RiskSummary, Value, patient_records, summarise
from deid.risk.quasi import QuasiIdentifier

if TYPE_CHECKING:
    from deid.risk import population as pop

NO_POPULATION = (
    "no population size given (--population N or --sampling-fraction F): population "
    "uniqueness is not estimated, and journalist risk is only bounded by the prosecutor "
    "risk (equal to it when the data set is the whole population)"
)


@dataclass(frozen=True)
class RiskSettings:
    quasi: tuple[QuasiIdentifier, ...]
    sensitive: QuasiIdentifier | None = None
    rare_only: tuple[str, ...] = ()
    threshold: int = 5
    population: int | None = None
    sampling_fraction: float | None = None
    max_risk: float | None = None  # gate: exit 1 when the prosecutor risk is above
    fail_on_dataset: bool = False  # gate: exit 1 on any data-set risk finding

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(qi.name for qi in self.quasi)

    @property
    def attributes(self) -> tuple[QuasiIdentifier, ...]:
        """Everything a scanned file is asked for: the quasi-identifiers and
        the sensitive attribute."""
        return self.quasi + ((self.sensitive,) if self.sensitive else ())


@dataclass(frozen=True)
class PopulationRisk:
    population: int | None
    estimates: tuple[pop.Estimate, ...] = ()  # zayatz, pitman, snb, dankar
    journalist: tuple[float, float] | None = None  # max, average over patients
    note: str = ""

    def to_dict(self, records: int) -> dict[str, object]:
        size = self.population
        return {
            "size": size,
            "sampling_fraction": round(records / size, 9) if size else None,
            "estimators": {
                e.model: {
                    "population_uniques": _round(e.uniques),
                    "share_unique": _round(e.share(size)) if size else None,
                    "note": e.reason,
                }
                for e in self.estimates
            },
            "note": self.note,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


@dataclass(frozen=True)
class DatasetRisk:
    summary: RiskSummary
    population: PopulationRisk
    attributes: tuple[AttributeRisk, ...] = ()
    combined: Option | None = None  # every attribute's advice applied together

    @property
    def before(self) -> Effect:
        s = self.summary
        return Effect(s.k, s.classes, s.sample_uniques, s.below_k, s.records)

    def advice(self) -> list[str]:
        """Advice lines for attributes whose change helps, most helpful first."""
        helpful = [a.advice for a in self.attributes if _helps(a.advice, self.before)]
        helpful.sort(key=lambda o: (-o.effect.k, o.effect.below_k, o.effect.uniques))
        return [option.line(self.before) for option in helpful]

    def to_dict(self) -> dict[str, object]:
        s = self.summary
        journalist = self.population.journalist
        return {
            **s.to_dict(),
            "journalist_risk": {
                "max": _round(journalist[0]) if journalist else None,
                "average": _round(journalist[1]) if journalist else None,
                "model": (
                    "E[1/F | f]: Benedetti & Franconi (1998), uniform sampling fraction"
                    if journalist
                    else None
                ),
                "upper_bound": {
                    "max": round(s.prosecutor_max, 6),
                    "average": round(s.prosecutor_avg, 6),
                },
                "note": "journalist risk: the attacker does not know who is in the data set"
                + ("" if journalist else "; " + NO_POPULATION),
            },
            "population": self.population.to_dict(s.records),
            "contributions": [a.to_dict(self.before) for a in self.attributes],
            "advice": self.advice(),
            "advice_combined": self.combined.to_dict(self.before) if self.combined else None,
        }


def _helps(option: Option, before: Effect) -> bool:
    e = option.effect
    return e.k > before.k or e.below_k < before.below_k or e.uniques < before.uniques


# --------------------------------------------------------------------------
# Assessment


def assess(
    rows: Iterable[tuple[str, Mapping[str, Value | str]]],
    settings: RiskSettings,
    workdir: Path | None = None,
) -> DatasetRisk:
    """One pass over the rows; the class list is spooled for the advice."""
    names = settings.names
    folded = names + ((settings.sensitive.name,) if settings.sensitive else ())
    rare = tuple(name for name in settings.rare_only if name in names)
    records = patient_records(rows, folded, rare, settings.threshold, workdir)
    classes = ClassList(workdir)
    try:
        summary = summarise(
            (record for _, record in records),
            settings.threshold,
            names,
            workdir,
            sensitive=settings.sensitive.name if settings.sensitive else None,
            on_class=classes.add,
        )
        attributes, combined = _advise(lambda: iter(classes), summary, settings, workdir)
    finally:
        classes.close()
    return DatasetRisk(summary, population_risk(summary, settings), attributes, combined)


def _trials(settings: RiskSettings) -> list[tuple[str, Generalisation, list[Generalisation]]]:
    """Per record entry (the quasi-identifiers, then the study count): its
    removal and its generalisations."""
    trials = []
    for qi in settings.quasi:
        rare = qi.name in settings.rare_only
        trials.append((qi.name, removal(qi.name), candidates(qi.name, qi.vr, rare)))
    fewer = Generalisation(STUDY_COUNT, "release one study per patient", None)
    trials.append((STUDY_COUNT, fewer, []))
    return trials


def _advise(
    classes, summary: RiskSummary, settings: RiskSettings, workdir: Path | None
) -> tuple[tuple[AttributeRisk, ...], Option | None]:
    if summary.records == 0:
        return (), None
    trials = _trials(settings)
    variants = []
    for index, (_, removed, generalised) in enumerate(trials):
        variants.append(Variant(((index, removed),)))
        variants.extend(Variant(((index, g),)) for g in generalised)
    effects = iter(evaluate(classes, variants, settings.threshold, workdir))
    before = DatasetRisk(summary, PopulationRisk(None)).before
    attributes = []
    for name, removed, generalised in trials:
        gone = Option(removed, next(effects))
        options = [Option(g, next(effects)) for g in generalised]
        chosen = best(options, settings.threshold) if options else None
        # Removal is advised where no generalisation helps and removal does.
        advised = chosen if chosen and _helps(chosen, before) else gone
        if not _helps(advised, before) and chosen is not None:
            advised = chosen
        attributes.append(AttributeRisk(name, gone.effect, chosen, advised, tuple(options)))
    together = tuple(
        (index, a.advice.change)
        for index, a in enumerate(attributes)
        if a.attribute != STUDY_COUNT and _helps(a.advice, before)
    )
    combined = None
    if len(together) > 1:
        (effect,) = evaluate(classes, [Variant(together)], settings.threshold, workdir)
        phrase = "; ".join(change.phrase for _, change in together)
        combined = Option(Generalisation("", phrase, None), effect)
    return tuple(attributes), combined


def population_risk(summary: RiskSummary, settings: RiskSettings) -> PopulationRisk:
    n = summary.records
    if settings.population is None and settings.sampling_fraction is None:
        return PopulationRisk(None, note=NO_POPULATION)
    if n == 0:
        return PopulationRisk(settings.population, note="no patients")
    size = settings.population or round(n / (settings.sampling_fraction or 1))
    if size < n:
        return PopulationRisk(
            size,
            note=f"not applicable: the population ({size}) is smaller than the data set "
            f"({n} patients)",
        )
    h = dict(summary.histogram)
    from deid.risk import population as pop  # scipy: loaded only when a population is given

    made = {e.model: e for e in (pop.zayatz(h, size), pop.pitman(h, size), pop.snb(h, size))}
    chosen = pop.dankar(h, size, made)
    note = (
        f"population of {size}: estimators of Zayatz (1991), Pitman as in Hoshino (2001), "
        "SNB (Chen & Keller-McNulty 1998) and the decision rule of Dankar et al. (2012)"
    )
    return PopulationRisk(size, (*made.values(), chosen), pop.journalist(h, size), note)


# --------------------------------------------------------------------------
# Findings and the gate


def findings(risk: DatasetRisk) -> list[Finding]:
    s = risk.summary
    if s.records == 0:
        return []
    found = []
    advice = risk.advice()
    if s.k < s.threshold:
        found.append(
            Finding(
                rule="dataset.k-anonymity",
                severity=Severity.HIGH if s.k == 1 else Severity.MEDIUM,
                message=(
                    f"k-anonymity is {s.k} (< {s.threshold}): {s.below_k_share:.1%} of patients "
                    f"are in classes smaller than {s.threshold} and {s.sample_uniques} are unique "
                    "on the quasi-identifiers"
                ),
                location="dataset",
                action="; or ".join(advice[:3]) or "remove quasi-identifiers or add patients",
            )
        )
        found.extend(_attribute_findings(risk))
    found.extend(_population_findings(risk))
    found.extend(_diversity_findings(s))
    return found


def _attribute_findings(risk: DatasetRisk) -> list[Finding]:
    before = risk.before
    found = []
    for a in risk.attributes:
        gone = before.uniques - a.removed.uniques
        if gone <= 0 and not _helps(a.advice, before):
            continue
        found.append(
            Finding(
                rule="dataset.quasi-identifier",
                severity=Severity.LOW,
                message=(
                    f"{a.attribute}: {gone} of {before.uniques} sample unique(s) are no longer "
                    f"unique without it (k {before.k} -> {a.removed.k})"
                ),
                location=f"dataset/{a.attribute}",
                action=a.advice.line(before),
            )
        )
    return found


def _population_findings(risk: DatasetRisk) -> list[Finding]:
    p = risk.population
    dankar = next((e for e in p.estimates if e.model == "dankar"), None)
    if dankar is None or not dankar.uniques or p.population is None:
        return []
    return [
        Finding(
            rule="dataset.population-uniqueness",
            severity=Severity.MEDIUM,
            message=(
                f"an estimated {dankar.uniques / p.population:.2%} of the population of "
                f"{p.population} is unique on the quasi-identifiers (Dankar et al. 2012, "
                f"{dankar.reason})"
            ),
            location="dataset",
            action="generalise the quasi-identifiers that make patients unique (see advice)",
        )
    ]


def _diversity_findings(s: RiskSummary) -> list[Finding]:
    ld = s.l_diversity
    if ld is None or ld.distinct >= 2:
        return []
    return [
        Finding(
            rule="dataset.l-diversity",
            severity=Severity.MEDIUM,
            message=(
                f"distinct l-diversity of {ld.attribute} is {ld.distinct}: "
                f"{ld.homogeneous_share:.1%} of patients are in classes whose members all share "
                f"one {ld.attribute} (disclosed to anyone who finds the class)"
            ),
            location=f"dataset/{ld.attribute}",
            action="generalise the quasi-identifiers or the sensitive attribute",
        )
    ]


def gate(risk: DatasetRisk, settings: RiskSettings, found: list[Finding]) -> str | None:
    """Why the data-set risk fails the run (exit 1), or None."""
    s = risk.summary
    if settings.max_risk is not None and s.records and s.prosecutor_max > settings.max_risk:
        return f"prosecutor risk {s.prosecutor_max:.3g} is above --max-risk {settings.max_risk:g}"
    serious = [f.rule for f in found if f.severity >= Severity.MEDIUM]
    if settings.fail_on_dataset and serious:
        return f"--fail-on-dataset: {', '.join(sorted(set(serious)))}"
    return None
