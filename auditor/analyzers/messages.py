"""Message classification: substantive work, simple communication or social exchange.

Needs messages (worker_id, conversation_id, sender_role, ts, text, attachment_kind).
The 隐形加班 test (Beijing No. 3 Intermediate People's Court, 2023) asks whether off-hours chat
carried substantive work content beyond simple communication; an inspector must be able to say
why a message counted. So every message is labelled by readable rules kept in
``auditor/lexicons/*.toml`` (one file per label, plus ``instructions.toml``), and each message
records the id of the rule that decided it. Supervisor messages that direct work are flagged
``is_instruction`` for the instruction network and so that an image or file the worker sends right
after one counts as a reply to it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from auditor.analyzers import context
from auditor.case import Case
from auditor.findings import Findings
from auditor.settings import Settings

ID = "message-classification"
LEXICONS = Path(__file__).resolve().parents[1] / "lexicons"
LABELS = ("substantive", "simple", "social")
INSTRUCTIONS = "instructions"
TEXT_TERMS = ("keywords", "words", "patterns")
CONDITIONS = (*TEXT_TERMS, "max_chars", "attachment_kinds", "sender_roles", "is_instruction",
              "after_instruction_minutes")
LIST_KEYS = (*TEXT_TERMS, "attachment_kinds", "sender_roles")
CONTEXT_KEYS = ("is_instruction", "after_instruction_minutes")  # need instructions found first
RULE_KEYS = {"id", "priority", "description_zh", "description_en", "fallback", *CONDITIONS}
CONVERSATION = ["worker_id", "conversation_id"]
NO_ATTACHMENT = "none"  # how a lexicon names "no attachment" in attachment_kinds


class LexiconError(ValueError):
    """A lexicon file an inspector edited does not read as rules; says which file and rule."""


@dataclass(frozen=True)
class Rule:
    id: str
    label: str | None  # None for instruction rules
    priority: int
    description_zh: str
    description_en: str
    keywords: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    max_chars: int | None = None
    attachment_kinds: tuple[str, ...] = ()
    sender_roles: tuple[str, ...] = ()
    is_instruction: bool | None = None
    after_instruction_minutes: float | None = None
    fallback: bool = False

    @property
    def text_hit(self) -> str | None:
        """The working column holding this rule's text test, matched once per distinct text."""
        return f"_hit:{self.id}" if any((self.keywords, self.words, self.patterns)) else None

    def condition(self) -> pl.Expr:
        """All the rule's stated conditions, as one boolean expression over the working columns."""
        parts = []
        if self.text_hit:
            parts.append(pl.col(self.text_hit))
        if self.max_chars is not None:
            parts.append(pl.col("_chars") <= self.max_chars)
        if self.attachment_kinds:
            parts.append(pl.col("attachment_kind").fill_null(NO_ATTACHMENT).is_in(self.attachment_kinds))
        if self.sender_roles:
            parts.append(pl.col("sender_role").is_in(self.sender_roles).fill_null(False))
        if self.is_instruction is not None:
            parts.append(pl.col("is_instruction") == self.is_instruction)
        if self.after_instruction_minutes is not None:
            parts.append(pl.col("_since_instruction").is_between(0, self.after_instruction_minutes).fill_null(False))
        return pl.all_horizontal(parts) if parts else pl.lit(True)

    def _text_condition(self) -> pl.Expr | None:
        hits = []
        if self.keywords:
            hits.append(pl.col("_text").str.contains_any(list(self.keywords), ascii_case_insensitive=True))
        if self.words:
            hits.append(pl.col("_text").str.contains(_words_regex(self.words)))
        if self.patterns:
            hits.append(pl.col("_text").str.contains(_patterns_regex(self.patterns)))
        return pl.any_horizontal(hits) if hits else None


def _words_regex(words: tuple[str, ...]) -> str:
    # ASCII word boundaries, so "ok" matches in "收到ok" (a Unicode \b sees 到 as a word character)
    # but not inside "book".
    return r"(?i)(?-u:\b)(?:" + "|".join(re.escape(w) for w in words) + r")(?-u:\b)"


def _patterns_regex(patterns: tuple[str, ...]) -> str:
    return "(?i)" + "|".join(f"(?:{p})" for p in patterns)


def _rule(entry: dict, label: str | None, path: Path) -> Rule:
    where = f"{path.name}: rule {entry.get('id', '(no id)')!r}"
    if unknown := set(entry) - RULE_KEYS:
        raise LexiconError(f"{where}: unknown key(s) {sorted(unknown)}; a rule may have {sorted(RULE_KEYS)}")
    if missing := {"id", "priority", "description_zh", "description_en"} - set(entry):
        raise LexiconError(f"{where}: missing {sorted(missing)}")
    for key in LIST_KEYS:
        if key in entry and not (isinstance(entry[key], list) and all(isinstance(v, str) for v in entry[key])):
            raise LexiconError(f'{where}: {key} must be a list of strings, e.g. {key} = ["…", "…"]')
    if label is None and (context := [k for k in CONTEXT_KEYS if k in entry]):
        raise LexiconError(f"{where}: an instruction rule cannot use {context}: instructions are found first")
    has_condition = any(entry.get(key) not in (None, [], "") for key in CONDITIONS)
    if has_condition == bool(entry.get("fallback")):
        raise LexiconError(f"{where}: a rule needs at least one condition, unless it is the fallback "
                           "(fallback = true), which has none")
    rule = Rule(label=label, **{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()})
    for regex in filter(None, (rule.words and _words_regex(rule.words),
                               rule.patterns and _patterns_regex(rule.patterns))):
        try:
            pl.Series([""]).str.contains(regex)
        except pl.exceptions.PolarsError as exc:
            raise LexiconError(f"{where}: a pattern is not a valid regular expression: {exc}") from None
    return rule


def load_lexicon(name: str, directory: Path = LEXICONS) -> list[Rule]:
    """The rules of one lexicon file (``substantive``, ``simple``, ``social`` or ``instructions``)."""
    path = Path(directory) / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(directory).glob("*.toml"))
        raise LexiconError(f"no lexicon {path}; expected one of {known}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"{path.name}: not valid TOML: {exc}") from None
    label = data.get("label")
    if name != INSTRUCTIONS and label != name:
        raise LexiconError(f"{path.name}: label = {label!r}, expected {name!r}")
    return [_rule(entry, label, path) for entry in data.get("rule", [])]


def load_rules(directory: Path = LEXICONS) -> tuple[list[Rule], list[Rule]]:
    """(label rules, instruction rules), each ordered by priority, highest first."""
    label_rules = [r for name in LABELS for r in load_lexicon(name, directory)]
    instruction_rules = load_lexicon(INSTRUCTIONS, directory)
    ids = [r.id for r in (*label_rules, *instruction_rules)]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise LexiconError(f"rule ids used more than once: {dupes}")
    if sum(r.fallback for r in label_rules) != 1:
        raise LexiconError("exactly one label rule must be the fallback (fallback = true)")
    # sorted() is stable: between equal priorities the earlier rule in the files wins
    return sorted(label_rules, key=lambda r: -r.priority), sorted(instruction_rules, key=lambda r: -r.priority)


def rules_table(directory: Path = LEXICONS) -> pl.DataFrame:
    """Every rule with its label and descriptions, for the app and the dossier to explain a label."""
    label_rules, instruction_rules = load_rules(directory)
    return pl.DataFrame(
        [(r.id, r.label or "instruction", r.priority, r.description_zh, r.description_en)
         for r in (*label_rules, *instruction_rules)],
        schema=["rule", "label", "priority", "description_zh", "description_en"], orient="row")


def _first_match(rules: list[Rule]) -> pl.Expr:
    return pl.coalesce([pl.when(r.condition()).then(pl.lit(r.id)) for r in rules] + [pl.lit(None, pl.String)])


def _text_tests(messages: pl.LazyFrame, rules: list[Rule]) -> pl.LazyFrame:
    """Per distinct text: its length and every rule's text test. Chats repeat themselves ("收到",
    "好的", templated dispatch notes), so matching each distinct text once instead of each message
    is what keeps classification fast at city scale."""
    text = pl.col("_text")
    return (messages.select(pl.col("text").fill_null("")).unique()
            .with_columns(_text=pl.col("text").str.normalize("NFKC").str.strip_chars())
            .with_columns(_chars=text.str.len_chars(),
                          **{r.text_hit: r._text_condition() for r in rules if r.text_hit})
            .drop("_text"))


def classify(messages: pl.LazyFrame, directory: Path = LEXICONS) -> pl.LazyFrame:
    """The messages with ``label`` (substantive / simple / social), ``rule`` (the id that decided
    it), ``is_instruction`` and ``instruction_rule``. Text is matched after NFKC normalisation, so
    full-width "ＯＫ" and "１２单" read like "OK" and "12单"."""
    label_rules, instruction_rules = load_rules(directory)
    labels = {r.id: r.label for r in label_rules}
    columns = messages.collect_schema().names()
    last_instruction = pl.when(pl.col("is_instruction")).then(pl.col("ts")).forward_fill()
    tests = _text_tests(messages, [*label_rules, *instruction_rules])
    return (
        messages.with_columns(_key=pl.col("text").fill_null(""))
        .join(tests, left_on="_key", right_on="text", how="left", maintain_order="left")
        .with_columns(instruction_rule=_first_match(instruction_rules))
        .with_columns(is_instruction=pl.col("instruction_rule").is_not_null())
        .with_columns(_since_instruction=(pl.col("ts") - last_instruction.over(CONVERSATION, order_by="ts"))
                      .dt.total_seconds(fractional=True) / 60)
        .with_columns(rule=_first_match(label_rules))
        .with_columns(label=pl.col("rule").replace_strict(labels, return_dtype=pl.String))
        .select(*columns, "label", "rule", "is_instruction", "instruction_rule")
    )


def classified(case: Case) -> pl.DataFrame:
    """The case's messages classified with the bundled lexicons, once per shared run (context)."""
    return context.frame(case, "classified messages", lambda: classify(case.table("messages")))


@context.sharing
def run(case: Case, settings: Settings) -> Findings:
    """No findings of its own: the classified messages are a measure that the off-hours work and
    instruction-network analyzers build on, and that the app shows message by message."""
    result = Findings.empty()
    result.measures["messages"] = classified(case)
    return result
