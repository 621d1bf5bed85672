"""What a piece of burned-in text is: the patient's own data, something that
looks like an identifier, a harmless marker, or unknown text.

Labels raise confidence and explain findings; they do not decide what is
redacted on their own, because OCR misreads: under `--redact phi` anything
that is not positively a marker is redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

from deid.data_files import malformed, only_keys, read_toml
from deid.errors import UsageError
from deid.risk.identifiers import IdentifierSet, date_forms
from deid.text import names
from deid.text.patterns import EMAIL, phones
from deid.text.tokens import fold, words

# OCR confusions between letters and digits, folded before comparing IDs.
_DIGITISH = str.maketrans(
    {
        "O": "0",
        "Q": "0",
        "D": "0",
        "I": "1",
        "L": "1",
        "|": "1",
        "Z": "2",
        "S": "5",
        "B": "8",
        "G": "6",
        "T": "7",
    }
)
GENERIC = [
    ("date", re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}\b")),
    (
        "date",
        re.compile(
            r"\b\d{1,2}[- ]?(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[- ]?\d{2,4}\b"
        ),
    ),
    ("date", re.compile(r"\b(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b")),
    # Spaced ("12 03 1962", "1962 03 12"): each group alone is a number the
    # allow-list keeps, and a date of birth was kept as a marker.
    (
        "date",
        re.compile(
            r"\b(?:(?:0?[1-9]|[12]\d|3[01]) (?:0?[1-9]|1[0-2])"
            r"|(?:0?[1-9]|1[0-2]) (?:0?[1-9]|[12]\d|3[01])) (?:19|20)\d{2}\b"
        ),
    ),
    ("date", re.compile(r"\b(19|20)\d{2} (0?[1-9]|1[0-2]) (0?[1-9]|[12]\d|3[01])\b")),
    # Five digits or more: a record, accession or study number. A measurement
    # that long comes with its read-out label (W:40000) or unit (12345MM),
    # which the allow-list knows.
    ("long-number", re.compile(r"(?<![:=])\b[A-Z]{0,4}\d{5,}\b(?![.,]?\d*[A-Z%])")),
    ("email", EMAIL),
]
FUZZY = 0.8  # similarity at which an OCR word counts as the identifier


@dataclass(frozen=True)
class Label:
    kind: str  # phi | pattern | marker | text | unread
    detail: str = ""  # which identifier kind or pattern matched


@dataclass(frozen=True)
class AllowList:
    words: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]

    def allows(self, word: str) -> bool:
        word = word.strip().upper().strip("\"'`‘’“”.,;:!?()[]{}")
        if not word:
            return True
        return word in self.words or any(p.fullmatch(word) for p in self.patterns)


ALLOWLIST_KEYS = frozenset({"words", "patterns"})


def _load(path: Path) -> tuple[set[str], list[re.Pattern[str]]]:
    data = read_toml(path, "allow-list")
    only_keys(path, "allow-list", data, ALLOWLIST_KEYS)
    words = {str(w).upper() for w in data.get("words", [])}
    patterns = []
    for raw in data.get("patterns", []):
        try:
            patterns.append(re.compile(str(raw), re.IGNORECASE))
        except re.error as exc:
            raise UsageError(f"{path}: bad pattern {raw!r}: {exc}") from exc
    return words, patterns


@cache
def load_allowlist(*paths: Path) -> AllowList:
    words: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for path in paths:
        with malformed(path, "allow-list"):
            more_words, more_patterns = _load(path)
        words |= more_words
        patterns += more_patterns
    return AllowList(frozenset(words), tuple(patterns))


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < 4:
        return False
    return SequenceMatcher(None, a, b).ratio() >= FUZZY


def _identifier_terms(identifiers: IdentifierSet) -> list[tuple[str, str]]:
    """Single words to compare with OCR words, fuzzily: the name, address and
    institution words the shared tokenizer makes, and IDs, phone numbers and
    dates whole (OCR joins and splits their groups unpredictably)."""
    terms = []
    for item in identifiers.items:
        if item.kind in ("name", "institution", "address"):
            shortest = 3 if item.kind == "name" else 4
            for phrase in item.phrases():
                if len(phrase) == 1 and len(phrase[0]) >= shortest:
                    terms.append((item.kind, phrase[0]))
        elif item.kind == "date":
            for form in date_forms(item.value, item.is_birth_date):
                terms.append(("date", fold(form)))
        elif item.kind in ("id", "phone"):
            terms.append((item.kind, item.value.upper().translate(_DIGITISH)))
        elif item.kind == "email":
            terms.append(("email", fold(item.value)))
    return terms


def label(text: str, identifiers: IdentifierSet, allow: AllowList) -> Label:
    upper = " ".join(text.upper().split())
    if not upper:
        return Label("unread")
    hits = identifiers.terms().find(text)
    if hits:  # the tokenizer every other check uses: exact words, any separators
        return Label("phi", hits[0].label.kind)
    label = _fuzzy(text, upper, _identifier_terms(identifiers))
    if label is not None:
        return label
    for kind, pattern in GENERIC:
        if pattern.search(upper):
            return Label("pattern", kind)
    if any(True for _ in phones(upper)):
        return Label("pattern", "phone")
    if names.find(text):
        return Label("pattern", "name")
    if all(allow.allows(w) for w in re.split(r"\s+", upper)):
        return Label("marker")
    return Label("text")


def _fuzzy(text: str, upper: str, terms: list[tuple[str, str]]) -> Label | None:
    """OCR misreads letters: identifier words within FUZZY similarity."""
    folded = " ".join(fold(text).split())
    ocr_words = words(text)
    upper_words = [w.strip(".,;:()[]") for w in upper.split()]
    for kind, term in terms:
        if kind == "date":
            if term in folded or _similar(folded.replace(" ", ""), term.replace(" ", "")):
                return Label("phi", "date")
        elif kind in ("id", "phone"):
            if any(_similar(w.translate(_DIGITISH), term) for w in upper_words):
                return Label("phi", kind)
        elif any(_similar(w, term) for w in ocr_words):
            return Label("phi", kind)
    return None
