"""The safety policy as data: load a YAML file, validate it, and compile its rules.

The policy is human-written and versioned (see `policies/default.yaml`). Validation names the bad field
(`rules[3].category: unknown category 'gore'`) so an operator's edit never silently weakens the stack.
An operator file may say `extends: default` (or a path) and then add rules, replace rules by id, or
disable them with `enabled: false`; mappings are merged key by key.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY = POLICY_DIR / "default.yaml"

# Categories the code itself refers to: a policy must declare them.
REQUIRED_CATEGORIES: tuple[str, ...] = (
    "child_safety",
    "sexual",
    "violence",
    "self_harm",
    "extremism_hate",
    "real_people",
    "illicit",
    "cbrn",
    "age_restricted",
    "public_figures",
    "styles",
    "age_gate",
    "misuse",
    "system",
)
NEVER_RELAXED: tuple[str, ...] = ("child_safety",)
RULE_KINDS: tuple[str, ...] = ("pattern", "optout", "style")
TOP_KEYS: frozenset[str] = frozenset(
    {
        "version",
        "name",
        "extends",
        "categories",
        "age",
        "moderation",
        "classifier",
        "gloss",
        "image",
        "chat",
        "misuse",
        "styles",
        "terms",
        "rules",
    }
)
RULE_KEYS: frozenset[str] = frozenset(
    {
        "id",
        "kind",
        "category",
        "description",
        "disallowed",
        "allowed",
        "match",
        "unless",
        "minor_only",
        "minor_exceptions",
        "relaxable",
        "enabled",
    }
)
TIERS: tuple[str, ...] = ("adult", "minor", "low")
_REF = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class PolicyError(ValueError):
    """The policy file is malformed; the message names the bad field."""


@dataclass
class Rule:
    """One compiled rule: fires when every `match` group is found and no `unless` group is."""

    id: str
    category: str
    kind: str = "pattern"
    description: str = ""
    disallowed: str = ""
    allowed: str = ""
    match: list[re.Pattern[str]] = field(default_factory=list)
    unless: list[re.Pattern[str]] = field(default_factory=list)
    minor_only: bool = False
    minor_exceptions: bool = True  # do `unless` exceptions also apply to users under 18?
    relaxable: bool = False  # may `moderation=low` switch it off?

    def fires(self, text: str, *, minor: bool) -> bool:
        """Whether this pattern rule refuses `text`: every match group found and no `unless` group (exceptions count
        for minors only with `minor_exceptions`). A minor_only rule never fires for adults."""
        if self.kind != "pattern" or (self.minor_only and not minor):
            return False
        if not all(p.search(text) for p in self.match):
            return False
        if self.unless and (self.minor_exceptions or not minor):
            if any(p.search(text) for p in self.unless):
                return False
        return True


@dataclass
class Thresholds:
    """A category's classifier thresholds per tier: adults, users under 18, and adults with moderation=low."""

    adult: float
    minor: float
    low: float

    def pick(self, *, minor: bool, low: bool) -> float:
        """The threshold for one request's tier: a minor always gets `minor`, whatever the moderation level."""
        # The stricter of the tiers wins: moderation=low never loosens a minor's threshold.
        if minor:
            return self.minor
        return self.low if low else self.adult


@dataclass
class Policy:
    """A validated, compiled policy (see `validate`); `raw` keeps the merged mapping it was built from."""

    version: str
    name: str
    categories: dict[str, str]
    rules: list[Rule]
    min_age: int
    adult_age: int
    low_relaxes: list[str]
    classifier: dict[str, Any]
    thresholds: dict[str, Thresholds]
    gloss: str | None  # the word table for English readings of other languages (gloss.py); None: no gloss
    image: dict[str, Any]
    chat: dict[str, Any]
    misuse: dict[str, Any]
    living_artists: list[str]
    style_cues_before: list[str]
    style_cues_after: list[str]
    source: str
    raw: dict[str, Any]

    def threshold(self, category: str, *, minor: bool, low: bool) -> float:
        """Classifier threshold for `category` in this tier (the `default` entry when it has none); moderation=low
        counts only for categories in `low_relaxes`."""
        t = self.thresholds.get(category) or self.thresholds["default"]
        if low and category not in self.low_relaxes:
            low = False
        return t.pick(minor=minor, low=low)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; raises KeyError when the policy has none."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule with id {rule_id!r} in policy {self.name!r}")


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k == "rules":
            continue
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_rules(base: list[dict[str, Any]], over: list[Any]) -> list[dict[str, Any]]:
    rules = [copy.deepcopy(r) for r in base]
    index = {r.get("id"): i for i, r in enumerate(rules)}
    for i, r in enumerate(over):
        if not isinstance(r, dict) or "id" not in r:
            raise PolicyError(f"rules[{i}]: each rule must be a mapping with an 'id'")
        if r["id"] in index:  # replace or patch an inherited rule, field by field
            rules[index[r["id"]]] = {**rules[index[r["id"]]], **copy.deepcopy(r)}
        else:
            index[r["id"]] = len(rules)
            rules.append(copy.deepcopy(r))
    return rules


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"cannot read policy file {path}: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: the policy must be a YAML mapping, got {type(data).__name__}")
    return data


def load_raw(path: str | Path | None = None, _depth: int = 0) -> tuple[dict[str, Any], str]:
    """Read a policy file and resolve `extends`, returning the merged mapping and its source path."""
    p = DEFAULT_POLICY if path in (None, "default") else Path(path)
    data = _read_yaml(p)
    parent = data.get("extends")
    if parent is not None:
        if _depth > 4:
            raise PolicyError(f"{p}: 'extends' chain is too deep (a cycle?)")
        if not isinstance(parent, str):
            raise PolicyError(f"{p}: extends: must be 'default' or a path, got {parent!r}")
        ppath = parent if parent == "default" else (p.parent / parent)
        base, _ = load_raw(ppath, _depth + 1)
        merged = _deep_merge(base, data)
        merged["rules"] = _merge_rules(base.get("rules", []), data.get("rules", []) or [])
        merged.pop("extends", None)
        return merged, str(p)
    return data, str(p)


def _expect(cond: object, where: str, msg: str) -> None:
    if not cond:
        raise PolicyError(f"{where}: {msg}")


def _compile_terms(terms: dict[str, Any]) -> dict[str, str]:
    """Expand every lexicon to one alternation string, resolving `$name` items and `{name}` references."""
    _expect(isinstance(terms, dict), "terms", "must be a mapping of lexicon name -> list of patterns")
    done: dict[str, str] = {}

    def expand_fragment(frag: str, where: str, stack: tuple[str, ...]) -> str:
        def sub(m: re.Match[str]) -> str:
            return "(?:" + resolve(m.group(1), where, stack) + ")"

        return _REF.sub(sub, frag)

    def resolve(name: str, where: str, stack: tuple[str, ...]) -> str:
        if name in done:
            return done[name]
        _expect(name in terms, where, f"unknown lexicon {name!r}")
        _expect(name not in stack, where, f"lexicon {name!r} refers to itself")
        items = terms[name]
        _expect(isinstance(items, list) and items, f"terms.{name}", "must be a non-empty list of patterns")
        parts: list[str] = []
        for j, it in enumerate(items):
            _expect(
                isinstance(it, str) and it.strip() != "", f"terms.{name}[{j}]", f"must be a pattern string, got {it!r}"
            )
            if it.startswith("$"):
                parts.append(resolve(it[1:], f"terms.{name}[{j}]", stack + (name,)))
            else:
                parts.append(expand_fragment(it, f"terms.{name}[{j}]", stack + (name,)))
        done[name] = "|".join(parts)
        return done[name]

    for n in terms:
        resolve(n, f"terms.{n}", ())
    return done


def _group(spec: Any, lex: dict[str, str], terms: dict[str, Any], where: str) -> re.Pattern[str]:
    """A group is `$lexicon`, a pattern string, or a list of those; it compiles to one word-bounded regex."""
    items = spec if isinstance(spec, list) else [spec]
    _expect(len(items) > 0, where, "an empty group would match nothing")
    alts: list[str] = []
    for j, it in enumerate(items):
        w = f"{where}[{j}]" if isinstance(spec, list) else where
        _expect(isinstance(it, str) and it.strip() != "", w, f"must be '$lexicon' or a pattern string, got {it!r}")
        if it.startswith("$"):
            _expect(it[1:] in lex, w, f"unknown lexicon {it!r}")
            alts.append(lex[it[1:]])
        else:
            for ref in _REF.findall(it):
                _expect(ref in lex, w, f"unknown lexicon reference {{{ref}}}")
            alts.append(_REF.sub(lambda m: "(?:" + lex[m.group(1)] + ")", it))
    src = r"(?<![a-z0-9])(?:" + "|".join(alts) + r")(?![a-z0-9])"
    try:
        return re.compile(src)
    except re.error as e:
        raise PolicyError(f"{where}: invalid pattern: {e}") from None


def _thresholds(spec: Any, where: str) -> Thresholds:
    _expect(isinstance(spec, dict), where, "must be a mapping with adult, minor and low")
    unknown = set(spec) - set(TIERS)
    _expect(not unknown, where, f"unknown tier(s) {sorted(unknown)}; expected {list(TIERS)}")
    vals: dict[str, float] = {}
    for t in TIERS:
        _expect(t in spec, where, f"missing tier {t!r}")
        v = spec[t]
        _expect(
            isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0,
            f"{where}.{t}",
            f"must be a number in [0, 1], got {v!r}",
        )
        vals[t] = float(v)
    _expect(
        vals["minor"] <= vals["adult"],
        where,
        f"minor threshold {vals['minor']} must not be looser than adult {vals['adult']}",
    )
    return Thresholds(**vals)


def validate(data: dict[str, Any], source: str = "<policy>") -> Policy:
    """Validate a merged policy mapping and compile it. Raises PolicyError naming the bad field."""
    unknown = set(data) - TOP_KEYS
    _expect(not unknown, "policy", f"unknown top-level key(s) {sorted(unknown)}")
    for key in ("version", "name", "categories", "rules"):
        _expect(key in data, "policy", f"missing required key {key!r}")
    _expect(isinstance(data["version"], str | int | float), "version", "must be a string")
    cats = data["categories"]
    _expect(isinstance(cats, dict) and cats, "categories", "must be a non-empty mapping of id -> description")
    missing = [c for c in REQUIRED_CATEGORIES if c not in cats]
    _expect(not missing, "categories", f"missing required categories {missing}")
    age = data.get("age", {}) or {}
    min_age, adult_age = int(age.get("min_age", 13)), int(age.get("adult_age", 18))
    _expect(0 <= min_age <= adult_age <= 30, "age", f"need 0 <= min_age <= adult_age <= 30, got {min_age}, {adult_age}")
    low_relaxes = list((data.get("moderation") or {}).get("low_relaxes", []) or [])
    for i, c in enumerate(low_relaxes):
        _expect(c in cats, f"moderation.low_relaxes[{i}]", f"unknown category {c!r}")
        _expect(c not in NEVER_RELAXED, f"moderation.low_relaxes[{i}]", f"category {c!r} can never be relaxed")
    clf = dict(data.get("classifier") or {})
    th_spec = clf.get("thresholds") or {}
    _expect("default" in th_spec, "classifier.thresholds", "missing 'default'")
    thresholds: dict[str, Thresholds] = {}
    for c, spec in th_spec.items():
        _expect(c == "default" or c in cats, f"classifier.thresholds.{c}", f"unknown category {c!r}")
        thresholds[c] = _thresholds(spec, f"classifier.thresholds.{c}")
    gloss = data.get("gloss")
    _expect(
        gloss is None or gloss is False or (isinstance(gloss, str) and gloss.strip()),
        "gloss",
        f"must be a path to a gloss table or false, got {gloss!r}",
    )
    image = dict(data.get("image") or {})
    nud = image.get("nudity") or {}
    if "thresholds" in nud:
        _thresholds(nud["thresholds"], "image.nudity.thresholds")
    mp = image.get("max_pixels", 40_000_000)
    _expect(isinstance(mp, int) and mp > 0, "image.max_pixels", f"must be a positive integer, got {mp!r}")
    misuse = dict(data.get("misuse") or {})
    flag_at, suspend_at = misuse.get("flag_at", 5.0), misuse.get("suspend_at", 15.0)
    _expect(
        isinstance(flag_at, int | float) and isinstance(suspend_at, int | float) and 0 < flag_at <= suspend_at,
        "misuse",
        f"need 0 < flag_at <= suspend_at, got {flag_at!r}, {suspend_at!r}",
    )
    for c in misuse.get("weights") or {}:
        _expect(c == "default" or c in cats, f"misuse.weights.{c}", f"unknown category {c!r}")
    styles = data.get("styles") or {}
    artists = styles.get("living_artists", []) or []
    _expect(
        isinstance(artists, list) and all(isinstance(a, str) and a.strip() for a in artists),
        "styles.living_artists",
        "must be a list of names",
    )

    terms = data.get("terms") or {}
    lex = _compile_terms(terms)
    rules_spec = data["rules"]
    _expect(isinstance(rules_spec, list), "rules", "must be a list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(rules_spec):
        w = f"rules[{i}]"
        _expect(isinstance(r, dict), w, "must be a mapping")
        bad = set(r) - RULE_KEYS
        _expect(not bad, w, f"unknown field(s) {sorted(bad)}")
        rid = r.get("id")
        _expect(isinstance(rid, str) and rid, f"{w}.id", "must be a non-empty string")
        w = f"rules[{i}] ({rid})"
        _expect(rid not in seen, f"{w}.id", "duplicate rule id")
        seen.add(rid)
        if r.get("enabled", True) is False:
            continue
        kind = r.get("kind", "pattern")
        _expect(kind in RULE_KINDS, f"{w}.kind", f"unknown kind {kind!r}; expected one of {list(RULE_KINDS)}")
        cat = r.get("category")
        _expect(cat in cats, f"{w}.category", f"unknown category {cat!r}")
        for flag in ("minor_only", "minor_exceptions", "relaxable", "enabled"):
            _expect(isinstance(r.get(flag, False), bool), f"{w}.{flag}", f"must be true or false, got {r.get(flag)!r}")
        _expect(
            not (r.get("relaxable") and cat in NEVER_RELAXED),
            f"{w}.relaxable",
            f"category {cat!r} can never be relaxed",
        )
        match: list[re.Pattern[str]] = []
        unless: list[re.Pattern[str]] = []
        if kind == "pattern":
            m = r.get("match")
            _expect(isinstance(m, list) and m, f"{w}.match", "a pattern rule needs a non-empty list of groups")
            match = [_group(g, lex, terms, f"{w}.match[{j}]") for j, g in enumerate(m)]
            u = r.get("unless", []) or []
            _expect(isinstance(u, list), f"{w}.unless", "must be a list of groups")
            unless = [_group(g, lex, terms, f"{w}.unless[{j}]") for j, g in enumerate(u)]
        rules.append(
            Rule(
                id=rid,
                category=cat,
                kind=kind,
                description=str(r.get("description", "")),
                disallowed=str(r.get("disallowed", "")),
                allowed=str(r.get("allowed", "")),
                match=match,
                unless=unless,
                minor_only=bool(r.get("minor_only", False)),
                minor_exceptions=bool(r.get("minor_exceptions", True)),
                relaxable=bool(r.get("relaxable", False)),
            )
        )
    return Policy(
        version=str(data["version"]),
        name=str(data["name"]),
        categories={k: str(v) for k, v in cats.items()},
        rules=rules,
        min_age=min_age,
        adult_age=adult_age,
        low_relaxes=low_relaxes,
        classifier=clf,
        thresholds=thresholds,
        gloss=gloss or None,
        image=image,
        chat=dict(data.get("chat") or {}),
        misuse=misuse,
        living_artists=[a.strip().lower() for a in artists],
        style_cues_before=list(styles.get("cues_before", []) or []),
        style_cues_after=list(styles.get("cues_after", []) or []),
        source=source,
        raw=data,
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """Load, merge (`extends`) and validate a policy file; None or 'default' gives the shipped policy."""
    data, source = load_raw(path)
    return validate(data, source)


def policy_words(policy: Policy) -> frozenset[str]:
    """Literal words in the policy's lexicons and artist list (for re-splitting spaced-out letters)."""
    words: set[str] = set()
    for items in (policy.raw.get("terms") or {}).values():
        for it in items or []:
            if isinstance(it, str) and not it.startswith("$"):
                words.update(w for w in re.findall(r"[a-z]{3,}", re.sub(r"\\\w|\(\?[<!=]+[^)]*\)", " ", it)))
    for a in policy.living_artists:
        words.update(a.split())
    return frozenset(words)
