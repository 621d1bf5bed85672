"""Person names that no header holds: staff, relatives, a physicist in a beam
description, a surname in a ROI label.

Offline rules over the shared tokens, in the order of the evidence they need:
- a title or credential next to capitalised words ("Dr Okafor", "A. Lind RN");
- a role before them ("Technologist: ...", "seen by ...", "per ...",
  "mother ...");
- DICOM's FAMILY^GIVEN form in free text;
- given and family names from the shipped gazetteer (Faker's names of 86
  locales, see deid/text/data) next to each other ("Maria Garcia-Lopez"),
  or a known given name before a capitalised word;
- a gazetteer family name joined to a label by `_` or `^` ("LIVER_SMITH");
- Chinese, Japanese and Korean names: a family name followed by a given
  name from the gazetteer.
Words of the DICOM standard (element names, concept meanings: "Bone",
"Doppler", "Gray") count as names only after a title, credential or role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from deid.text.lexicon import PARTICLES, PLACEHOLDER_WORDS, Lexicon, lexicon
from deid.text.tokens import UNSPACED, Token, tokenize

Span = tuple[int, int]

TITLES = frozenset(
    [
        "dr",
        "doctor",
        "prof",
        "professor",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "sr",
        "sra",
        "srta",
        "dra",
        "herr",
        "frau",
        "mme",
        "mlle",
        "dott",
        "dottssa",
        "sig",
        "sgr",
        "mevr",
        "dhr",
        "pan",
        "pani",
    ]
)
# Credentials written after a name ("J. Smith, RN"); ambiguous ones (DO, PA,
# RT, NP) are left out.
CREDENTIALS = frozenset(
    [
        "md",
        "phd",
        "rn",
        "rdms",
        "rdcs",
        "rvt",
        "cnmt",
        "dds",
        "dmd",
        "mbbs",
        "mbchb",
        "frcr",
        "frcp",
        "frcs",
        "dabr",
        "pharmd",
        "crna",
        "facr",
        "lpn",
        "aprn",
        "rrt",
        "cna",
    ]
)
# Roles and relations: the capitalised words after them name a person.
ROLES = frozenset(
    [
        "technologist",
        "tech",
        "techs",
        "technician",
        "radiographer",
        "sonographer",
        "physicist",
        "dosimetrist",
        "nurse",
        "radiologist",
        "physician",
        "surgeon",
        "resident",
        "fellow",
        "attending",
        "referrer",
        "operator",
        "therapist",
        "anaesthetist",
        "anesthetist",
        "cardiologist",
        "oncologist",
        "midwife",
        "consultant",
        "registrar",
        "mother",
        "father",
        "wife",
        "husband",
        "son",
        "daughter",
        "sister",
        "brother",
        "spouse",
        "partner",
        "guardian",
        "relative",
        "caregiver",
        "carer",
        "grandmother",
        "grandfather",
        "aunt",
        "uncle",
        "signed",
        "signature",
        "dictated",
        "transcribed",
        "attn",
        "cc",
        "contact",
        "kin",
    ]
)
# Words after which a name may follow, but as often a thing ("by CT", "per
# protocol"): the next word must be a known name or an initial, unless a
# participle comes before "by" ("scanned by", "seen by").
WEAK = frozenset(["by", "per", "with", "to"])
_CUES = TITLES | ROLES | WEAK
_PARTICIPLES = frozenset(
    ["read", "seen", "done", "made", "written", "drawn", "taken", "given", "kept", "sent"]
)
_MAX_NAME_WORDS = 4
# After a pair of capitalised words, these make it a company or a product
# ("Agfa-Gevaert AG", "Vantage Galan 3T"), not a person.
COMPANY = frozenset(
    [
        "ag",
        "gmbh",
        "inc",
        "ltd",
        "llc",
        "co",
        "corp",
        "corporation",
        "sa",
        "spa",
        "bv",
        "nv",
        "kk",
        "plc",
        "oy",
        "ab",
        "as",
    ]
)


@dataclass(frozen=True, slots=True)
class _Word:
    token: Token
    word: str
    style: str  # title | upper | lower | other


def _style(text: str) -> str:
    if not text[0].isalpha():
        return "other"
    if text.upper() == text.lower():
        return "caseless"  # CJK, Arabic, Hebrew, Indic: no capitals to tell names by
    if text.isupper():
        return "upper"
    if text[0].isupper():
        return "title"
    return "lower" if text.islower() else "other"


def find(text: str) -> list[Span]:
    """Spans of `text` that are person names."""
    return list(_find(text))


@lru_cache(maxsize=8192)
def _find(text: str) -> tuple[Span, ...]:
    tokens = tokenize(text)
    if not any(t.text[0].isalpha() for t in tokens):
        return ()
    lex = lexicon()
    items = [_Word(t, t.norm, _style(t.text)) for t in tokens]
    spans = set(_by_context(text, items, lex))
    spans.update(_caret_names(text, items, lex))
    spans.update(_gazetteer_names(text, items, lex))
    spans.update(_label_names(text, items, lex))
    spans.update(_cjk_names(text, lex))
    return tuple(sorted(spans))


def _capitalised(item: _Word) -> bool:
    return item.style in ("title", "upper", "caseless") and item.word[0].isalpha()


def _initial(item: _Word) -> bool:
    return len(item.word) == 1 and item.style == "upper"


def _plain(item: _Word, lex: Lexicon) -> bool:
    """A capitalised word that is not a standard technical word, title or
    credential: a name when a title, credential or role vouches for it."""
    w = item.word
    return (
        _capitalised(item)
        and w not in lex.technical
        and w not in TITLES
        and w not in CREDENTIALS
        and w not in ROLES
        and w not in PLACEHOLDER_WORDS
    )


def _known(item: _Word, lex: Lexicon) -> bool:
    """A capitalised gazetteer name that is not also a standard word."""
    return _capitalised(item) and lex.is_name(item.word) and item.word not in lex.technical


def _gap(text: str, a: _Word, b: _Word) -> str:
    return text[a.token.end : b.token.start]


def _joined(text: str, a: _Word, b: _Word) -> bool:
    """Next to each other within one name: a space, hyphen, apostrophe,
    caret, underscore, or the dot of an initial."""
    return _gap(text, a, b).strip() in ("", "-", "'", "’", "^", "_", ".", ",")


def _extend(text: str, items: list[_Word], i: int, lex: Lexicon, strict: bool) -> int:
    """Index after the name that starts at items[i]: more capitalised words,
    particles and initials joined to it. With strict, a following word must
    be a known name (upper-case text has no case to tell names apart)."""
    j = i + 1
    longest = _MAX_NAME_WORDS + (3 if UNSPACED.match(items[i].word) else 0)  # 有田大五郎
    while j < len(items) and j - i < longest and _joined(text, items[j - 1], items[j]):
        item = items[j]
        if "," in _gap(text, items[j - 1], item) and not lex.is_name(item.word):
            break
        if item.word in PARTICLES:
            k = j
            while k < len(items) and k - i < _MAX_NAME_WORDS + 2 and items[k].word in PARTICLES:
                k += 1
            if k < len(items) and _capitalised(items[k]) and k - i < _MAX_NAME_WORDS + 2:
                j = k + 1  # "van der Berg", "de la Cruz"
                continue
            break
        hyphen = _gap(text, items[j - 1], item) in ("-", "'", "’")
        known = lex.is_name(item.word) and (item.word not in lex.technical or not strict)
        if not (_capitalised(item) or _initial(item)) or item.word in CREDENTIALS:
            break
        if not (known or hyphen or (not strict and _plain(item, lex))):
            break
        j += 1
    return j


def _span(items: list[_Word], i: int, j: int) -> Span:
    return items[i].token.start, items[j - 1].token.end


def _vouches(text: str, items: list[_Word], k: int, lex: Lexicon, following: _Word) -> bool:
    """A title or role that makes the next capitalised word a name. Titles
    in capitals without a dot are also modalities and document types (MR,
    DR, SR, MS): then a weak word must stand before them ("PER DR X") or the
    next word must be a known name."""
    item = items[k]
    if item.word in ROLES or _participle_by(items, k):
        return True
    if item.word not in TITLES:
        return False
    if item.style != "upper" or text[item.token.end : item.token.end + 1] == ".":
        return True
    if k > 0 and items[k - 1].word in WEAK and following.word not in lex.technical:
        return True
    return lex.is_name(following.word) and following.word not in lex.technical


def _participle_by(items: list[_Word], k: int) -> bool:
    """'scanned by', 'seen by', 'given to', 'discussed with': a person follows."""
    if items[k].word not in WEAK or items[k].word == "per" or k == 0:
        return False
    before = items[k - 1].word
    return before.endswith("ed") or before in _PARTICIPLES


def _by_context(text: str, items: list[_Word], lex: Lexicon) -> Iterator[Span]:
    for k, item in enumerate(items):
        w = item.word
        if w in _CUES:
            i = k + 1
            # "seen by Dr ...", "referring physician Dr ...": three at most,
            # so a long run of them is not walked from each of its words.
            while i < len(items) and i - k <= 3 and items[i].word in _CUES:
                i += 1
            if i >= len(items) or (i - k > 3):
                continue
            while i + 1 < len(items) and items[i].word in PARTICLES:
                i += 1  # "Dr de la Cruz", "Dr al-Farsi"
            vouched = any(_vouches(text, items, x, lex, items[i]) for x in range(k, i))
            first = items[i]
            start = i
            if _initial(first) and i + 1 < len(items):
                nxt = i + 1
                while nxt + 1 < len(items) and items[nxt].word in PARTICLES:
                    nxt += 1
                if _plain(items[nxt], lex) or lex.is_name(items[nxt].word):
                    i = nxt  # "by J. Smith", "A. da Silva"
                    first = items[i]
            if vouched and not (_plain(first, lex) or lex.is_name(first.word)):
                continue
            if not vouched and not _known(first, lex):
                continue
            end = _extend(text, items, i, lex, strict=not vouched)
            yield _span(items, start, end)
        elif w in CREDENTIALS and item.style == "upper" and k > 0:
            yield from _before_credential(text, items, k, lex)


def _before_credential(text: str, items: list[_Word], k: int, lex: Lexicon) -> Iterator[Span]:
    """'Anna Lind, RN', 'SMITH MD': capitalised words just before."""
    j = k - 1
    if not _plain(items[j], lex) and not lex.is_name(items[j].word):
        return
    i = j
    while i > 0 and k - i < _MAX_NAME_WORDS and _joined(text, items[i - 1], items[i]):
        prev = items[i - 1]
        if not (_plain(prev, lex) or _initial(prev) or prev.word in PARTICLES):
            break
        i -= 1
    yield _span(items, i, j + 1)


def _caret_names(text: str, items: list[_Word], lex: Lexicon) -> Iterator[Span]:
    """FAMILY^GIVEN written into free text ("Reviewed by SMITH^ANNA")."""
    for k in range(len(items) - 1):
        a, b = items[k], items[k + 1]
        if _gap(text, a, b) != "^" or not (a.word.isalpha() and b.word.isalpha()):
            continue
        words = {a.word, b.word}
        if words <= PLACEHOLDER_WORDS | lex.technical:
            continue
        if words & PLACEHOLDER_WORDS and not any(lex.is_name(w) for w in words):
            continue  # PSEUDO^<token>, ANONYMOUS^X: what deid and others write
        if not any(_capitalised(x) for x in (a, b)):
            continue
        yield a.token.start, b.token.end


def _gazetteer_names(text: str, items: list[_Word], lex: Lexicon) -> Iterator[Span]:
    """Known given and family names next to each other, or a known given
    name before a capitalised word that is not a standard word."""
    # Each found once for the whole text: asked from every word, a long run
    # of particles or of hyphen-joined words was walked from each of them.
    past_particles = _first_after(len(items), lambda m: items[m].word in PARTICLES)
    chained = _first_after(len(items), lambda m: m > 0 and _hyphened(text, items, m))
    for k in range(len(items) - 1):
        a = items[k]
        n = min(past_particles[k + 1], len(items) - 1)  # "Roberto von Marquez"
        b = items[n]
        if not (_capitalised(a) and _capitalised(b)) or not _joined(text, items[n - 1], b):
            continue
        if a.style != b.style and "upper" in (a.style, b.style) and len(b.word) > 1:
            continue  # "CT Brain", "Brain CT": mixed case is not one name
        if {a.word, b.word} <= lex.technical:
            continue
        a_name, b_name = lex.is_name(a.word), lex.is_name(b.word)
        pair = a_name and b_name and (a.word in lex.given or b.word in lex.given)
        given_first = a.word in lex.given and a.word not in lex.technical and _unknown(b, lex)
        family = b.word in lex.family or lex.family_shaped(b.word)
        family_second = family and _unknown(a, lex) and b.word not in lex.technical
        if _term_follows(items, chained[n + 1], lex):
            continue  # "Lown-Ganong-Levine syndrome", "Florida Cracker horse breed"
        if pair or given_first or (family_second and b.style == a.style != "upper"):
            end = _extend(text, items, n, lex, strict=True)
            yield a.token.start, items[end - 1].token.end


def _unknown(item: _Word, lex: Lexicon) -> bool:
    """A capitalised word no list knows: not a word of the standard at all
    (even a rare one), not a title or role, three letters or more."""
    return _plain(item, lex) and len(item.word) >= 3 and item.word not in lex.vocabulary


def _first_after(size: int, skip: Callable[[int], bool]) -> list[int]:
    """For each index m (and `size`), the first index from m on that `skip`
    does not pass over (`size` if none)."""
    first = [size] * (size + 1)
    for m in range(size - 1, -1, -1):
        first[m] = first[m + 1] if skip(m) else m
    return first


def _hyphened(text: str, items: list[_Word], m: int) -> bool:
    return _gap(text, items[m - 1], items[m]) in ("-", "'", "’")


def _term_follows(items: list[_Word], j: int, lex: Lexicon) -> bool:
    """Capitalised words before a lower-case standard word name a thing
    after a person (an eponym, a breed), not the person; before a company
    form or a model number, a company or a product. `j`: the first word
    after the name's hyphen-joined words."""
    if j >= len(items):
        return False
    after = items[j]
    if after.word in COMPANY or after.token.is_number:
        return True
    return after.style == "lower" and after.word in lex.technical


def _label_names(text: str, items: list[_Word], lex: Lexicon) -> Iterator[Span]:
    """A known name joined into a label: LIVER_SMITH, GTV_Smith, Smith_PTV."""
    for k, item in enumerate(items):
        w = item.word
        if not _capitalised(item) or len(w) < 4 or w in lex.vocabulary or not lex.is_name(w):
            continue
        if w in PLACEHOLDER_WORDS:
            continue
        before = k > 0 and _gap(text, items[k - 1], item) in ("_", "^")
        after = k + 1 < len(items) and _gap(text, item, items[k + 1]) in ("_", "^")
        if before or after:
            yield item.token.start, item.token.end


def _cjk_names(text: str, lex: Lexicon) -> Iterator[Span]:
    """A family name followed by a given name, in scripts without spaces."""
    if text.isascii() or not UNSPACED.search(text):
        return
    for i in range(len(text)):
        for f in (1, 2):
            family = text[i : i + f]
            if family not in lex.cjk_family:
                continue
            for g in (2, 1):
                if text[i + f : i + f + g] in lex.cjk_given:
                    yield i, i + f + g
                    break
