"""Split text into comparable tokens: one tokenizer for all identifier matching.

Identifiers are written many ways: `GARCÍA-LÓPEZ^MARÍA`, `Maria Garcia Lopez`,
`LIVER_GARCIA`, `garcia.lopez@...`. Splitting on every separator (space, `^`,
`-`, `_`, `.`, `/`, `,`, apostrophes, and between digits and letters) and
comparing case- and accent-folded tokens makes all of these the same words.
Folding keeps the text's length, so a match in folded text is a span of the
original text that can be removed or reported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Combining marks and the vowel signs of Indic and Thai scripts belong to
# the letter before them; without them a Devanagari or Thai name would fall
# apart into syllables.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0dff\u0e00-\u0e7f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
    "\ufe20-\ufe2f\u3099\u309a"  # and kana's voicing marks written apart (NFD)
)
_TOKEN = re.compile(rf"(?:[^\W\d_]|[{_MARKS}])+|\d+")
# Scripts written without spaces between words (Chinese, Japanese, Korean
# names): every character is a token, and names are sequences of them.
UNSPACED = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f]"
)
# Letters without a decomposition that readers still see as accented Latin.
_EXTRA_FOLDS = {"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ŀ": "l", "ŧ": "t", "ς": "σ"}
_FOLDED_RANGES = ((0x00C0, 0x02AF), (0x0370, 0x03FF), (0x1E00, 0x1FFF), (0xFF01, 0xFF5E))


def _fold_table() -> dict[int, str]:
    """Accented letter -> its base letter, for the scripts where that is safe."""
    table: dict[int, str] = {}
    for low, high in _FOLDED_RANGES:
        for cp in range(low, high + 1):
            char = chr(cp)
            parts = unicodedata.normalize("NFKD", char)
            base = parts[:1]
            if base and base != char and all(unicodedata.combining(p) for p in parts[1:]):
                folded = base.lower()
                if len(folded) == 1:
                    table[cp] = folded
    for char, base in _EXTRA_FOLDS.items():
        table[ord(char)] = base
        table[ord(char.upper())] = base
    return table


_TABLE = _fold_table()


def fold(text: str) -> str:
    """Lower case without accents, exactly as long as `text`."""
    low = text.lower()
    if len(low) != len(text):  # a few letters lengthen (Turkish İ): one by one
        low = "".join(c.lower()[:1] for c in text)
    if low.isascii():
        return low
    # One by one for the few letters that need it: str.translate with a
    # table this size costs a dictionary lookup for every character.
    return _NON_ASCII.sub(_fold_match, low)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fold_match(m: re.Match[str]) -> str:
    char = m.group()
    return _TABLE.get(ord(char), char)


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    text: str  # as written
    norm: str  # folded; a number of one or two digits without its leading zero

    @property
    def is_number(self) -> bool:
        return self.text[0].isdecimal()


# Letters written as two in other spellings of the same name (Weiß, WEISS).
DIGRAPHS = {"ß": "ss", "æ": "ae", "œ": "oe", "ĳ": "ij"}
_DIGRAPH_TABLE = str.maketrans(DIGRAPHS)


def _norm(folded: str) -> str:
    if folded.isdecimal() and len(folded) <= 2:
        return str(int(folded))
    return folded if folded.isascii() else composed(folded).translate(_DIGRAPH_TABLE)


# Latin, Greek and Cyrillic combining marks: written apart from their letter
# (NFD, as macOS writes text) "ü" is "u" and U+0308, which folds to "u" only
# once composed.
_APART = re.compile("[\u0300-\u036f]")


def composed(folded: str) -> str:
    """Folded text whose accents were written apart, composed and folded
    again: a name typed in one normal form matches it typed in the other."""
    if not _APART.search(folded):
        return folded
    return fold(unicodedata.normalize("NFC", folded))


def tokenize(text: str) -> list[Token]:
    """The words and numbers of `text`, with their places in it."""
    return list(_tokenize(text))


@lru_cache(maxsize=4096)
def _tokenize(text: str) -> tuple[Token, ...]:
    folded = fold(text)
    out: list[Token] = []
    for m in _TOKEN.finditer(folded):
        start, end = m.span()
        word = m.group()
        if word.isascii() or not UNSPACED.search(word):
            out.append(Token(start, end, text[start:end], _norm(word)))
            continue
        at = start
        for part in _split_unspaced(word):
            norm = unicodedata.normalize("NFC", part) if len(part) > 1 else part
            out.append(Token(at, at + len(part), text[at : at + len(part)], norm))
            at += len(part)
    return tuple(out)


def _split_unspaced(word: str) -> list[str]:
    """CJK characters one by one; runs of other letters stay whole. A
    character written apart (NFD: kana and its voicing mark, a Hangul
    syllable as its jamo) is one part, compared composed."""
    parts: list[str] = []
    run = ""
    for char in word:
        if parts and not run and _continues(parts[-1][-1], char):
            parts[-1] += char
        elif UNSPACED.match(char):
            if run:
                parts.append(run)
                run = ""
            parts.append(char)
        else:
            run += char
    if run:
        parts.append(run)
    return parts


def _continues(before: str, char: str) -> bool:
    """`char` belongs to the CJK character before it: a combining mark, or
    a Hangul vowel after its consonant, a final after its vowel."""
    if unicodedata.combining(char):
        return True
    code, prev = ord(char), ord(before)
    if 0x1161 <= code <= 0x1175:
        return 0x1100 <= prev <= 0x1112
    return 0x11A8 <= code <= 0x11C2 and 0x1161 <= prev <= 0x1175


# Inside a word: lower then upper ("MüllerJörg"), or upper then capitalised
# ("GTVSmith").
_CAMEL = re.compile(
    r"(?<=[^\W\d_])(?=[^\W\d_])(?:(?<=[a-zß-ÿ])(?=[A-ZÀ-Þ])|(?<=[A-ZÀ-Þ])(?=[A-ZÀ-Þ][a-zß-ÿ]))"
)


def camel_parts(token: Token) -> list[Token]:
    """The parts of a word written without separators in mixed case
    (`MüllerJörg`, `GTVSmith`, `McDonald`); [] for any other token. They are
    compared as single words only, beside the whole token."""
    text = token.text
    if text.islower() or text.isupper() or not text.isalpha():
        return []
    cuts = [m.start() for m in _CAMEL.finditer(text)]
    if not cuts:
        return []
    out, at = [], 0
    for cut in cuts + [len(text)]:
        part = text[at:cut]
        start = token.start + at
        out.append(Token(start, start + len(part), part, _norm(fold(part))))
        at = cut
    return out


def words(text: str) -> list[str]:
    """The normalised tokens of `text` (what identifiers are compared by)."""
    return [t.norm for t in _tokenize(text)]


def dotted_before(text: str, start: int) -> bool:
    """Whether a number starting at `start` continues a dotted number (a UID,
    a version): such a part is not a date, a phone number or an ID."""
    return start >= 2 and text[start - 1] == "." and text[start - 2].isdigit()


def dotted_after(text: str, end: int) -> bool:
    """Whether a number ending at `end` is followed by more dotted parts."""
    return end + 1 < len(text) and text[end] == "." and text[end + 1].isdigit()
