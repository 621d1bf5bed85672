"""Profiles: TOML data -> one validated, resolved rule table.

A profile is checked completely at load (every match, action and option), so
the scrubbing engine can trust what it is given. Errors name the file, the
line and the reason, because profiles are written by people.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from deid import __version__
from deid.apply import ACTIONS, PARAMETRISED
from deid.data_files import DATA_FILE_BYTES, read_bounded
from deid.errors import DeidWarning, ProfileError
from deid.options import Option

# PS3.15 action codes, and how each resolves when the IOD type of the
# attribute is not known. A compound code offers X or Z where the attribute is
# optional and D or U where it is required; deid does not track IOD module
# types, so it picks the choice that is always conformant and never keeps the
# original value: D over Z over X, and U for UID sequences (walked, UIDs mapped).
CODE_ACTIONS: dict[str, str] = {
    "K": "keep",
    "X": "remove",
    "Z": "empty",
    "D": "dummy",
    "C": "clean",
    "U": "uid",
    "Z/D": "dummy",
    "X/Z": "empty",
    "X/D": "dummy",
    "X/Z/D": "dummy",
    "X/Z/U*": "uid",
}

# deid's own actions, for the HIPAA/GDPR profiles and user profiles: the
# action table's names (round takes a parameter: round:N).
EXTRA_ACTIONS = frozenset(name for name in ACTIONS if name not in PARAMETRISED)
PARAM_ACTIONS = tuple(f"{name}:" for name in sorted(PARAMETRISED))

DATE_CLEAN_MODES = ("shift", "year")

_HEX_TAG = re.compile(r"^\(?\s*([0-9a-fx]{4})\s*,\s*([0-9a-fx]{4})\s*\)?$", re.IGNORECASE)
_PLAIN_TAG = re.compile(r"^([0-9a-f]{8})$", re.IGNORECASE)


def canonical_action(code: str) -> str:
    """Map a PS3.15 code or a deid action name to the engine's action name."""
    if code in CODE_ACTIONS:
        return CODE_ACTIONS[code]
    if code in EXTRA_ACTIONS:
        return code
    if code.startswith(PARAM_ACTIONS):
        return code
    raise ValueError(code)


def _check_action(code: str) -> None:
    if code.startswith("round:"):
        try:
            step = float(code.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"{code!r}: round needs a number, e.g. round:5") from None
        if not math.isfinite(step) or step <= 0:  # nan compares false with anything
            raise ValueError(f"{code!r}: round step must be a positive number")
        return
    canonical_action(code)


@dataclass(frozen=True)
class Match:
    """Where a rule applies. kind: tag | mask | private | path."""

    kind: str
    tag: int = 0
    mask: int = 0xFFFFFFFF
    creator: str = ""
    path: tuple[int, ...] = ()

    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.tag, self.mask, self.creator, self.path)


def _parse_one_tag(text: str) -> tuple[int, int]:
    """Return (value, mask) for a keyword, (gggg,eeee), ggggeeee or a masked tag."""
    text = text.strip()
    m = _HEX_TAG.match(text) or _PLAIN_TAG.match(text)
    if m:
        digits = "".join(m.groups())
        mask = int("".join("0" if c in "xX" else "F" for c in digits), 16)
        value = int("".join("0" if c in "xX" else c for c in digits), 16)
        return value, mask
    tag = tag_for_keyword(text)
    if tag is None:
        raise ValueError(f"{text!r} is neither a DICOM keyword nor a (gggg,eeee) tag")
    return tag, 0xFFFFFFFF


def parse_match(text: str, creator: str = "") -> Match:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("match must be a non-empty string")
    if "/" in text:
        parts = []
        for part in text.split("/"):
            value, mask = _parse_one_tag(part)
            if mask != 0xFFFFFFFF:
                raise ValueError(f"{text!r}: masks are not allowed inside a sequence path")
            parts.append(value)
        return Match("path", tag=parts[-1], path=tuple(parts))
    value, mask = _parse_one_tag(text)
    group = value >> 16
    if creator:
        if not group & 1:
            raise ValueError(f"{text!r}: a private creator needs an odd group")
        if mask not in (0xFFFFFFFF, 0xFFFF00FF):
            raise ValueError(f"{text!r}: write private elements as (gggg,xxee)")
        return Match("private", tag=value & 0xFFFF00FF, mask=0xFFFF00FF, creator=creator)
    if mask != 0xFFFFFFFF:
        return Match("mask", tag=value, mask=mask)
    return Match("tag", tag=value)


@dataclass(frozen=True)
class Rule:
    match: Match
    match_text: str
    name: str
    code: str
    by_option: tuple[tuple[Option, str], ...]
    why: str
    source: str
    value: str = ""

    def code_for(self, options: frozenset[Option]) -> str:
        """The code in force under the chosen options.

        Several selected options can name the same attribute; the more
        conservative one wins (C, clean, before K, keep), so that adding an
        option never makes another option leak.
        """
        chosen = [code for option, code in self.by_option if option in options]
        if not chosen:
            return self.code
        if "C" in chosen:
            return "C"
        return chosen[0]


@dataclass(frozen=True)
class SafePrivate:
    group: int
    element: int  # low byte of the element, the block offset
    creator: str
    name: str


@dataclass(frozen=True)
class Decision:
    """What the engine does with one element, and why (for the report)."""

    action: str
    code: str
    why: str
    value: str = ""
    # What the IOD requires at this place: "value" (Type 1/1C: present and not
    # empty), "present" (Type 2/2C: present, may be empty), or nothing.
    need: str = ""
    # Named by a rule (Table E.1-1's, or the profile's own). Table E.1-1 lists
    # what may identify a person: an attribute it does not list whose name
    # ends in "ID" (OpticalPathIdentifier, TrackingID, ApplicatorID) names a
    # thing, and its value is no identifier to hunt through the file.
    listed: bool = True


@dataclass(frozen=True)
class ProfileMeta:
    name: str
    description: str
    source: str
    standard: str = ""
    options: tuple[Option, ...] = ()
    date_clean: str = "shift"
    pseudonymised: bool = False
    linkage: bool = False
    internal: bool = False
    chain: tuple[str, ...] = ()
    quasi_identifiers: tuple[str, ...] = ()
    rare_only: tuple[str, ...] = ()
    k_threshold: int = 5
    # Of the texts of the profile and every profile it extends: a resumed run
    # is refused when the rules changed under the same name.
    digest: str = ""


@dataclass(frozen=True)
class Profile:
    """A loaded profile with its inheritance merged; options not yet applied."""

    meta: ProfileMeta
    rules: tuple[Rule, ...]
    keep_tags: frozenset[int]
    keep_why: str
    private_code: str
    private_options: tuple[tuple[Option, str], ...]
    private_why: str
    safe_private: tuple[SafePrivate, ...]

    def resolve(self, options: frozenset[Option] | None = None) -> ResolvedProfile:
        if options is None:
            options = frozenset(self.meta.options)
        exact: dict[int, Decision] = {}
        masks: list[tuple[int, int, Decision]] = []
        private: dict[tuple[int, int, str], Decision] = {}
        paths: dict[tuple[int, ...], Decision] = {}
        listing: list[tuple[Rule, Decision]] = []
        for rule in self.rules:
            code = rule.code_for(options)
            decision = Decision(canonical_action(code), code, rule.why, rule.value)
            listing.append((rule, decision))
            m = rule.match
            if m.kind == "tag":
                exact[m.tag] = decision
            elif m.kind == "mask":
                masks.append((m.mask, m.tag, decision))
            elif m.kind == "private":
                private[(m.tag >> 16, m.tag & 0xFF, m.creator)] = decision
            else:
                paths[m.path] = decision
        _check_paths_reachable(listing, exact, paths)
        private_rule = Rule(
            Match("mask"),
            "private",
            "private",
            self.private_code,
            self.private_options,
            self.private_why,
            self.meta.source,
        )
        private_code = private_rule.code_for(options)
        safe = (
            {(s.group, s.element, s.creator): s for s in self.safe_private}
            if private_code == "C"
            else {}
        )
        return ResolvedProfile(
            meta=self.meta,
            options=options,
            listing=tuple(sorted(listing, key=lambda r: (r[0].match.kind != "tag", r[0].match.tag,
                                                         r[0].match_text))),
            exact=exact,
            masks=tuple(sorted(masks, key=lambda m: -bin(m[0]).count("1"))),
            private=private,
            paths=paths,
            keep_tags=self.keep_tags,
            keep_why=self.keep_why,
            private_default=Decision(
                canonical_action(private_code), private_code, self.private_why
            ),
            safe_private=safe,
        )


def _check_paths_reachable(
    listing: list[tuple[Rule, Decision]],
    exact: dict[int, Decision],
    paths: dict[tuple[int, ...], Decision],
) -> None:
    """A rule inside a sequence that the options in force remove or empty
    cannot apply in this run: said once, on one line (the README's own
    example did nothing, silently). Not an error: another option may keep
    the parent, and one site profile serves runs with and without it."""
    for rule, _ in listing:
        if rule.match.kind != "path":
            continue
        path = rule.match.path
        for depth in range(1, len(path)):
            parent = path[depth - 1]
            decided = paths.get(path[:depth]) if depth > 1 else None
            decided = decided or exact.get(parent)
            if decided is not None and decided.action in ("remove", "empty"):
                name = keyword_for_tag(parent) or f"({parent >> 16:04X},{parent & 0xFFFF:04X})"
                warnings.warn(
                    f"{rule.source}: {rule.match_text} does not apply: {decided.code} "
                    f"{decided.action}s {name} here (keep it, or a path to it, for the rule "
                    "to apply)",
                    DeidWarning,
                    stacklevel=2,
                )
                break


@dataclass(frozen=True)
class ResolvedProfile:
    """Options applied: one decision per matcher, ready for the engine."""

    meta: ProfileMeta
    options: frozenset[Option]
    listing: tuple[tuple[Rule, Decision], ...]  # every rule as resolved, for people
    exact: dict[int, Decision]
    masks: tuple[tuple[int, int, Decision], ...]
    private: dict[tuple[int, int, str], Decision]
    paths: dict[tuple[int, ...], Decision]
    keep_tags: frozenset[int]
    keep_why: str
    private_default: Decision
    safe_private: dict[tuple[int, int, str], SafePrivate] = field(default_factory=dict)

    def rule_for(self, tag: int, path: tuple[int, ...] = ()) -> Decision | None:
        """The profile's rule for a standard tag (path = enclosing sequences + tag)."""
        if self.paths and path in self.paths:
            return self.paths[path]
        decision = self.exact.get(tag)
        if decision is not None:
            return decision
        for mask, value, decision in self.masks:
            if tag & mask == value:
                return decision
        return None

    def private_rule(self, group: int, element_low: int, creator: str) -> Decision | None:
        return self.private.get((group, element_low, creator))

    def is_safe_private(self, group: int, element_low: int, creator: str) -> bool:
        return (group, element_low, creator) in self.safe_private


# --------------------------------------------------------------------------
# Loading


def shipped_dir() -> Path:
    """Profiles ship inside the wheel as deid/_profiles; in a checkout they
    are the repository's profiles/ folder."""
    here = Path(__file__).resolve().parent
    packaged = here / "_profiles"
    return packaged if packaged.is_dir() else here.parent / "profiles"


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.toml") if not p.stem.startswith("_"))


def _locate(name_or_path: str, relative_to: Path | None = None) -> Path:
    candidate = Path(name_or_path)
    if name_or_path.endswith(".toml") or candidate.parent != Path("."):
        if not candidate.is_absolute() and relative_to is not None:
            local = relative_to / candidate
            if local.exists():
                return local
        if candidate.exists():
            return candidate
        raise ProfileError(f"profile file not found: {name_or_path}")
    shipped = shipped_dir() / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    if relative_to is not None and (relative_to / f"{name_or_path}.toml").exists():
        return relative_to / f"{name_or_path}.toml"
    known = ", ".join(shipped_profiles())
    raise ProfileError(f"unknown profile {name_or_path!r} (shipped profiles: {known})")


class _Located:
    """Finds the line of the n-th [[table]] entry or a key, for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def _array_starts(self, table: str) -> list[int]:
        header = f"[[{table}]]"
        return [i for i, line in enumerate(self.lines) if line.strip().startswith(header)]

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int:
        start, end = 0, len(self.lines)
        if index is not None:
            starts = self._array_starts(table)
            if index < len(starts):
                start = starts[index]
                end = next(
                    (
                        i
                        for i in range(start + 1, len(self.lines))
                        if self.lines[i].lstrip().startswith("[")
                    ),
                    len(self.lines),
                )
        else:
            header = f"[{table}]"
            start = next((i for i, line in enumerate(self.lines) if line.strip() == header), 0)
        if key is not None:
            pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
            for i in range(start, end):
                if pattern.match(self.lines[i]):
                    return i + 1
        return start + 1

    def error(
        self, reason: str, table: str, index: int | None = None, key: str | None = None
    ) -> ProfileError:
        return ProfileError(f"{self.path}:{self.line(table, index, key)}: {reason}")


_PROFILE_KEYS = {
    "name",
    "description",
    "extends",
    "options",
    "standard",
    "date_clean",
    "pseudonymised",
    "linkage",
    "internal",
}
_RULE_KEYS = {"match", "creator", "name", "action", "options", "why", "value"}


def _options(
    raw: Any, where: _Located, table: str, index: int | None, key: str
) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not all(isinstance(o, str) for o in raw):
        raise where.error(f"{key} must be a list of option names", table, index, key)
    out = []
    for name in raw:
        try:
            out.append(Option.by_name(name))
        except KeyError:
            raise where.error(
                f"unknown option {name!r} (known: {', '.join(Option.names())})",
                table,
                index,
                key,
            ) from None
    return tuple(out)


def _option_actions(
    raw: Any, where: _Located, table: str, index: int | None
) -> tuple[tuple[Option, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise where.error("options must be a table of option = action", table, index, "options")
    out = []
    for name, code in raw.items():
        try:
            option = Option.by_name(name)
        except KeyError:
            raise where.error(f"unknown option {name!r}", table, index, "options") from None
        try:
            _check_action(code)
        except (ValueError, AttributeError):
            raise where.error(
                f"unknown action {code!r} for option {name}", table, index, "options"
            ) from None
        out.append((option, code))
    return tuple(out)


def _parse_rules(data: dict[str, Any], where: _Located, source: str) -> list[Rule]:
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise where.error("rules must be written as [[rules]] tables", "rules")
    rules = []
    for i, raw in enumerate(raw_rules):
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise where.error(f"unknown key {key!r} in rule", "rules", i, key)
        if "match" not in raw:
            raise where.error("rule has no match", "rules", i)
        if "action" not in raw:
            raise where.error("rule has no action", "rules", i)
        creator = raw.get("creator", "")
        try:
            match = parse_match(raw["match"], creator)
        except ValueError as exc:
            raise where.error(str(exc), "rules", i, "match") from None
        code = raw["action"]
        try:
            if not isinstance(code, str):
                raise ValueError(code)
            _check_action(code)
        except ValueError:
            known = ", ".join(sorted(CODE_ACTIONS) + sorted(EXTRA_ACTIONS) + ["round:N"])
            raise where.error(
                f"unknown action {code!r} (known: {known})", "rules", i, "action"
            ) from None
        if code == "replace" and "value" not in raw:
            raise where.error("action replace needs a value", "rules", i, "action")
        rules.append(
            Rule(
                match=match,
                match_text=raw["match"] + (f" [{creator}]" if creator else ""),
                name=raw.get("name", raw["match"]),
                code=code,
                by_option=_option_actions(raw.get("options"), where, "rules", i),
                why=raw.get("why", f"rule in {source}"),
                source=source,
                value=str(raw.get("value", "")),
            )
        )
    return rules


def load_profile(
    name_or_path: str, _seen: tuple[str, ...] = (), _relative_to: Path | None = None
) -> Profile:
    """Load a shipped profile by name, or a profile file, with its bases.
    A value of the wrong kind anywhere in the file is one line naming it."""
    try:
        return _load_profile(name_or_path, _seen, _relative_to)
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProfileError(f"{name_or_path}: malformed profile: {reason}") from None


@dataclass(frozen=True)
class _Source:
    """One profile file as read: its TOML, where errors point, its name."""

    path: Path
    data: dict[str, Any]
    where: _Located
    digest: str = ""  # of the file's text: an edit makes another profile

    @property
    def name(self) -> str:
        return self.path.name


def _load_profile(
    name_or_path: str, _seen: tuple[str, ...], _relative_to: Path | None
) -> Profile:
    if not isinstance(name_or_path, str):
        raise ProfileError(f"extends must name a profile, not {name_or_path!r}")
    path = _locate(name_or_path, _relative_to)
    resolved = str(path.resolve())
    if resolved in _seen:
        raise ProfileError(f"{path}: profile inheritance loops back to itself")
    src = _read(path)
    head = _head(src)
    base: Profile | None = None
    if head.get("extends"):
        base = load_profile(head["extends"], _seen + (resolved,), path.parent)
    rules: dict[tuple[Any, ...], Rule] = {r.match.key(): r for r in base.rules} if base else {}
    for rule in _parse_rules(src.data, src.where, src.name):
        rules[rule.match.key()] = rule
    keep_tags, keep_why = _keep(src, base)
    private_code, private_options, private_why = _private(src, base)
    return Profile(
        meta=_meta(src, head, base),
        rules=tuple(rules.values()),
        keep_tags=keep_tags,
        keep_why=keep_why,
        private_code=private_code,
        private_options=private_options,
        private_why=private_why,
        safe_private=_safe_private(src, base),
    )


def _read(path: Path) -> _Source:
    try:
        text = read_bounded(path, DATA_FILE_BYTES).decode("utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not a profile (not UTF-8 text)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ProfileError(f"{where}: not valid TOML: {str(exc).split(' (at')[0]}") from None
    except RecursionError:  # arrays or tables nested a thousand deep
        raise ProfileError(f"{path}: not a profile (values nested too deep)") from None
    return _Source(path, data, _Located(path, text), hashlib.sha256(text.encode()).hexdigest())


# Outputs name the profile in DeidentificationMethod, "deid <version>: <name>",
# an LO value: at most 64 characters, no backslash (it splits values).
NAME_MAX = 64 - len(f"deid {__version__}: ")
_NAME = re.compile(rf"[\x20-\x5b\x5d-\x7e]{{1,{NAME_MAX}}}")


def _head(src: _Source) -> dict[str, Any]:
    """The [profile] table, its sections and keys checked."""
    data, where = src.data, src.where
    unknown_tables = set(data) - {"profile", "rules", "keep", "private", "safe_private", "risk"}
    if unknown_tables:
        table = sorted(unknown_tables)[0]
        raise where.error(f"unknown section {table!r}", table)
    head = data.get("profile")
    if not isinstance(head, dict) or "name" not in head:
        raise where.error("missing [profile] section with a name", "profile")
    unknown = set(head) - _PROFILE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise where.error(f"unknown key {key!r} in [profile]", "profile", None, key)
    if not isinstance(head["name"], str) or not _NAME.fullmatch(head["name"]):
        raise where.error(
            f"name must be 1 to {NAME_MAX} printable ASCII characters without a backslash "
            "(every output's DeidentificationMethod names the profile: a value of at most "
            "64 characters)",
            "profile", None, "name",
        )  # fmt: skip
    date_clean = head.get("date_clean", "shift")
    if date_clean not in DATE_CLEAN_MODES:
        modes = ", ".join(DATE_CLEAN_MODES)
        raise where.error(f"date_clean must be one of {modes}", "profile", None, "date_clean")
    for flag in ("pseudonymised", "linkage", "internal"):
        if flag in head and not isinstance(head[flag], bool):
            raise where.error(f"{flag} must be true or false", "profile", None, flag)
    return head


def _meta(src: _Source, head: dict[str, Any], base: Profile | None) -> ProfileMeta:
    """The profile's own settings, each inherited from the base when not given."""
    inherited = base.meta if base else ProfileMeta("", "", "")
    options = inherited.options
    if "options" in head:
        options = _options(head["options"], src.where, "profile", None, "options")
    quasi, rare_only, k_threshold = _risk(src, inherited)
    return ProfileMeta(
        name=str(head["name"]),
        description=str(head.get("description", "")),
        source=src.name,
        standard=str(head.get("standard", inherited.standard)),
        options=options,
        date_clean=head.get("date_clean", inherited.date_clean if base else "shift"),
        pseudonymised=head.get("pseudonymised", inherited.pseudonymised),
        linkage=head.get("linkage", inherited.linkage),
        internal=head.get("internal", False),
        chain=inherited.chain + (str(head["name"]),),
        quasi_identifiers=quasi,
        rare_only=rare_only,
        k_threshold=k_threshold,
        digest=hashlib.sha256((inherited.digest + src.digest).encode()).hexdigest()[:16],
    )


def _risk(src: _Source, inherited: ProfileMeta) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """[risk]: quasi-identifiers, those counted only when rare, and k."""
    risk, where = src.data.get("risk", {}), src.where
    quasi = inherited.quasi_identifiers
    if "quasi_identifiers" in risk:
        quasi = risk["quasi_identifiers"]
        if not isinstance(quasi, list) or not all(isinstance(q, str) for q in quasi):
            raise where.error(
                "quasi_identifiers must be a list of names", "risk", None, "quasi_identifiers"
            )
        quasi = tuple(quasi)
    rare_only = tuple(risk.get("rare_only", inherited.rare_only))
    k_threshold = risk.get("k", inherited.k_threshold)
    if not isinstance(k_threshold, int) or k_threshold < 2:
        raise where.error("k must be a whole number of at least 2", "risk", None, "k")
    return quasi, rare_only, k_threshold


def _keep(src: _Source, base: Profile | None) -> tuple[frozenset[int], str]:
    """[keep]: attributes named to be kept, and why."""
    keep, where = src.data.get("keep", {}), src.where
    keep_tags = set(base.keep_tags) if base else set()
    if "groups" in keep:
        raise where.error(
            "[keep] groups is retired: attributes no rule names are kept by VR and IOD type; "
            "name attributes with keywords instead",
            "keep",
            None,
            "groups",
        )
    for keyword in keep.get("keywords", []):
        tag = tag_for_keyword(keyword) if isinstance(keyword, str) else None
        if tag is None:
            raise where.error(
                f"keep keyword {keyword!r} is not a DICOM keyword", "keep", None, "keywords"
            )
        keep_tags.add(tag)
    return frozenset(keep_tags), keep.get("why", base.keep_why if base else "allow-list")


def _private(
    src: _Source, base: Profile | None
) -> tuple[str, tuple[tuple[Option, str], ...], str]:
    """[private]: the action for private attributes, by option, and why."""
    private, where = src.data.get("private"), src.where
    if private is None:
        if base:
            return base.private_code, base.private_options, base.private_why
        return "X", (), "private attributes are removed"
    try:
        _check_action(private.get("action", ""))
    except ValueError:
        raise where.error(
            "private action must be an action code", "private", None, "action"
        ) from None
    options = _option_actions(private.get("options"), where, "private", None)
    return private["action"], options, private.get("why", f"private attributes, {src.name}")


def _safe_private(src: _Source, base: Profile | None) -> tuple[SafePrivate, ...]:
    """[[safe_private]]: private attributes Retain Safe Private may keep."""
    safe = list(base.safe_private) if base else []
    for i, raw in enumerate(src.data.get("safe_private", [])):
        try:
            m = parse_match(raw["match"], raw["creator"])
        except (KeyError, ValueError) as exc:
            raise src.where.error(f"bad safe_private entry: {exc}", "safe_private", i) from None
        safe.append(SafePrivate(m.tag >> 16, m.tag & 0xFF, m.creator, raw.get("name", "")))
    return tuple(safe)
