"""An aspect's evidence table (paper, method, setting, reported value, direction) and sentences composed from it.

Every composed sentence cites the reference numbers of the rows it counts, so each is traceable to quoted claims.
"""

from __future__ import annotations

import re

from tasks.coverage import speaks_of, title_name
from tasks.goal import GENERIC_NAMES, QUANTITY_WORDS, goal_words, is_name, is_percentage
from tasks.index.text import STOP_WORDS
from tasks.io.latex import plain_text
from tasks.models import AspectKind, AspectTable, Claim, EvidenceRow, Paper, Plan
from tasks.verify import directions

# A finding of no difference: the method matches what it is compared with.
PARITY = re.compile(
    r"\b(?:comparabl\w*|on par|parity|similar|match(?:es|ed|ing)?|competitive|within \d|no significant)\b", re.I
)
# A reported value: 85.2%, +4.2%, 81 percent, 1.8 points, 3x, 2.84X, 2-3x, 28%-100%, 10,000 times, 9/11, 9 of 11; not a
# model size such as 7B, a year, a variant in a name (SiT-XL/2, B/16, MultiVENT 2.0++), a metric's cutoff (nDCG@10), a
# sample size or parameter (n=1534, k=5; FID=5.31 is one) or a resolution (256×256).
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_FACTOR = r"(?:[xX]\b|×(?!\d))"
VALUE = re.compile(
    rf"(?<![\w.,/×@-])(?<!\b[a-zA-Z]=)[+-]?{_NUMBER}(?:{_FACTOR}?[-–]{_NUMBER}(?={_FACTOR})|%?[-–]{_NUMBER}(?=\s?%))?"
    rf"(?P<unit>\s?%|\spercent\b|{_FACTOR}|/\d+|\s(?:of \d+|(?:percentage )?points?|pp|times)\b)?(?![\w×+-]|\.\d)"
)
# A multiplier written as a word: "x2 faster", "2x"; a factor, not a name.
MULTIPLIER = re.compile(r"[x×]\d+(?:\.\d+)?|\d+(?:\.\d+)?[x×]", re.I)
# Which way a finding goes when it names no quantity that rises or falls: "outperforms", "a 9x speedup", "slower".
GAIN = re.compile(
    r"\b(?:outperform\w*|surpass\w*|superior|better|faster|speed-?ups?|accelerat\w*|gains?|boosts?)\b", re.I
)
LOSS = re.compile(r"\b(?:underperform\w*|inferior|worse|slower|degrad\w*|hurts?)\b", re.I)
YEAR = re.compile(r"(?:19|20)\d\d")
# A name doing a finding's verb: capitalised words or words with digits ("Gemini 1.5 Pro"), an adverb or modal, then
# the verb as a verb ("a 33x reduction" is a noun, "with FP16 reaching" a condition, "MLQA show that" a report).
_NAME_WORD = r"(?:[A-Z][\w.'+-]*|[a-z][\w.+-]*[A-Z][\w.'+-]*|[\w.+-]*\d[\w.+-]*)"  # MixLoRA, iLR-DPO, 7B
SUBJECT_VERB = re.compile(
    rf"(?<![\w/-])(?P<name>{_NAME_WORD}(?: {_NAME_WORD})*) (?:\w+ly |can |could |also |further |still )?"
    r"(?:(?:achiev|improv|increas|reduc|accelerat|rais|trad|sav|requir|enabl|enhanc|preserv|remov)(?:e|es|ed)|"
    r"(?:outperform|yield|attain|deliver|obtain|exceed|lower|maintain|sustain|show(?! that))(?:s|ed)?|"
    r"(?:reach|match|surpass|boost|beat|cut)(?:es|s|ed)?)\b"
)
_COUNTED_LIST = re.compile(r"(?:^|\s)1\).*\s2\)")
# Measures written as acronyms that QUANTITY_WORDS lacks: IS (Inception Score), EM (exact match), METEOR, mAP, PPL.
METRIC_ACRONYMS = frozenset("is em meteor chrf bertscore spice cider map ppl".split())
DIRECTION_WORDS = {"up": "higher", "down": "lower"}
# How the composed sentences say each direction.
DIRECTION_PHRASES = {
    "higher": "an increase or gain",
    "lower": "a decrease or reduction",
    "parity": "parity",
    "mixed": "mixed directions",
    "": "no direction",
}


def direction(sentence: str) -> str:
    """Which way the finding goes: higher, lower, parity, mixed, or "" when it states none."""
    ways = directions(sentence) or {way for way, cue in (("up", GAIN), ("down", LOSS)) if cue.search(sentence)}
    if PARITY.search(sentence) and not ways:
        return "parity"
    if len(ways) == 1:
        return DIRECTION_WORDS[ways.pop()]
    return "mixed" if ways or PARITY.search(sentence) else ""


def values(sentence: str) -> list[str]:
    """The values the sentence reports, in order: those with a unit when it has any (a bare 2 in "after 2 epochs" is
    a detail of the setting), else its bare numbers; years and model sizes left out."""
    found = [
        m
        for m in VALUE.finditer(sentence)
        if not YEAR.fullmatch(m.group(0)) and not _enumerates(sentence, m) and not _versions(sentence, m)
    ]
    with_unit = [m for m in found if m.group("unit")]
    # as a table shows it: "81 percent" and "85.2 %" as 81% and 85.2%
    return list(dict.fromkeys(re.sub(r"\s*(?:%|percent)$", "%", m.group(0)) for m in with_unit or found))


def _versions(sentence: str, match: re.Match) -> bool:
    """Whether the number is a name's version or a figure's number: "DALL-E 2", "Imagen 3", "Table 2"."""
    before = re.search(r"([A-Z][\w-]*) $", sentence[: match.start()])
    named = bool(before) and before[1].lower() not in STOP_WORDS
    return named and not match.group("unit") and match.group(0).isdigit() and len(match.group(0)) == 1


def _enumerates(sentence: str, match: re.Match) -> bool:
    """Whether the number is a list marker: "(1) hard tasks … and (2) speculative execution", "1) a module … 2) a"."""
    before = sentence[match.start() - 1 : match.start()]
    # "1) … 2) …" only when the sentence counts so, or a "1)" no bracket opened ("reveal that 1) X outperforms …", its
    # "2)" in the next sentence): "rises from 3 to 4)" ends a bracket, it lists nothing
    first = match.group(0) == "1" and "(" not in sentence[: match.start()]
    counted = before == "(" or (before in (" ", "") and (first or bool(_COUNTED_LIST.search(sentence))))
    closed = sentence[match.end() : match.end() + 1] == ")"
    return closed and counted and not match.group("unit") and match.group(0).isdigit() and len(match.group(0)) == 1


def _subject(sentence: str, excluded: set[str], own: str = "") -> str:
    """The name the finding is about: the one that does the finding's verb ("GTO increases", "CS Drafting achieves",
    "Domino can achieve"), the paper's own where several do ("16-bit LoRA achieves …, but LoTA-QAF outperforms …"),
    else "". A capitalised first word must be a name ("FlashAttention achieves", not "Results show"); measures and the
    goal's settings are never the subject."""
    subjects = []
    for match in SUBJECT_VERB.finditer(sentence):
        name = match["name"]
        first = name.split()[0]
        if match.start() == 0 and not is_name(first):
            continue
        common = first.lower() in GENERIC_NAMES | QUANTITY_WORDS | METRIC_ACRONYMS | STOP_WORDS
        if not common and not VALUE.fullmatch(first) and not MULTIPLIER.fullmatch(first) and name not in excluded:
            subjects.append(name)
    return next((n for n in subjects if own and _in_words(n, own)), next(iter(subjects), ""))


def _in_words(name: str, text: str) -> bool:
    """Whether the text writes the name as words of its own ("OmniQuant" in "OmniQuant: …", not "or" in "for")."""
    return bool(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE))


def _names(sentence: str) -> list[str]:
    """Names of what was measured where, not of the measure (FID, IS, BLEU) or a factor (x2); names side by side as
    one ("MS COCO 2017-5k", "LLaMA-2 7B")."""
    runs: list[list[str]] = [[]]
    for word in goal_words(sentence):
        named = is_name(word) and word.lower() not in GENERIC_NAMES | QUANTITY_WORDS | METRIC_ACRONYMS
        if named and not VALUE.fullmatch(word) and not MULTIPLIER.fullmatch(word):
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    return list(dict.fromkeys(" ".join(run) for run in runs if run))


def row(claim: Claim, number: int, plan: Plan, paper: Paper) -> EvidenceRow:
    """The claim's sentence as a table row: what it is about, where, how much and which way."""
    sentence = plain_text(claim.text)  # "$2\\times$" is the value 2×
    setting_words = {w.lower() for a in plan.of_kind(AspectKind.SETTING) for w in a.text.split()}
    names = _names(sentence)
    # the goal's settings the sentence states in full ("Natural Questions"), then its named words (TriviaQA)
    stated = [a.text for a in plan.of_kind(AspectKind.SETTING) if a.text.lower() in sentence.lower()]
    settings = list(dict.fromkeys([*stated, *(w for w in names if set(w.lower().split()) & setting_words)]))
    settings = [w for w in settings if not any(w != s and w in s for s in stated)]
    entity = next((a.text for a in plan.of_kind(AspectKind.ENTITY) if a.text in claim.aspects), "")
    own = plain_text(title_name(paper.title)) if speaks_of(sentence, paper.title) else ""
    # a name the paper's title gives (OmniQuant evaluated, the benefits of DiLoCo), not one it was measured on
    titled = [w for w in names if w not in settings and len(w) > 2 and _in_words(w, paper.title)]
    # the name doing the finding's verb, else the paper's own method (LoRA, MixLoRA), says more than the goal's entity
    # the finding is filed under; another name nobody does anything with is where it was measured, not a method
    method = _subject(sentence, set(settings), paper.title) or own or next(iter(titled), "") or entity
    named = [w for w in names if w.lower() not in method.lower()]
    named_numbers = goal_numbers(plan)
    return EvidenceRow(
        number=number,
        claim_id=claim.id,
        method=method,
        setting=", ".join(settings or named[:3]),
        value=", ".join([v for v in values(sentence) if v not in named_numbers][:3]),
        direction=direction(sentence),
        cross_check=claim.cross_check.status.value if claim.cross_check else "",
    )


def goal_numbers(plan: Plan) -> set[str]:
    """Bare numbers and shares the goal itself names ("Game of 24", "with 1,000 examples", "at 50% sparsity"): a paper
    repeating them reports no finding."""
    return {w for w in goal_words(plan.goal) if w.replace(",", "").isdigit() or is_percentage(w)}


def _cites(rows: list[EvidenceRow]) -> str:
    return "".join(f"[{n}]" for n in sorted({r.number for r in rows}))


def _papers(count: int) -> str:
    return f"{count} paper" if count == 1 else f"{count} papers"


def compose(aspect: str, rows: list[EvidenceRow]) -> list[str]:
    """Two to four sentences that count and summarise the table's rows, each citing the rows it rests on."""
    papers = len({r.number for r in rows})
    by_way: dict[str, list[EvidenceRow]] = {}
    for r in rows:
        by_way.setdefault(r.direction, []).append(r)
    ways = sorted(by_way.items(), key=lambda item: (not item[0], -len(item[1]), item[0]))
    counted = ", ".join(f"{len(group)} {DIRECTION_PHRASES[way]} {_cites(group)}" for way, group in ways)
    if len(rows) == 1:
        sentences = [f"One finding, from 1 paper, reports {DIRECTION_PHRASES[rows[0].direction]} {_cites(rows)}."]
    else:
        verb = " reports " if len(ways[0][1]) == 1 else " report "
        sentences = [f"Of {len(rows)} findings from {_papers(papers)}, {counted.replace(' ', verb, 1)}."]
    valued = [r for r in rows if r.value]
    if valued:
        listed = ", ".join(f"{r.value}{f' ({r.setting})' if r.setting else ''} [{r.number}]" for r in valued[:4])
        sentences.append(f"Reported values: {listed}.")
    settings = {r.setting for r in valued}
    if len(valued) > 1 and len(settings) > 1:
        where = ", ".join(f"{r.setting or 'unnamed'} [{r.number}]" for r in valued[:4])
        sentences.append(f"The values come from different settings ({where}), so they are not directly comparable.")
    contested = [r for r in rows if r.cross_check == "contested"]
    if contested:
        sentences.append(f"Other kept papers contest {_cites(contested)} (see Where the papers disagree).")
    return sentences[:4]


def evidence_table(aspect: str, claims: list[Claim], numbers: dict[str, int], plan: Plan, papers: dict) -> AspectTable:
    """The aspect's table over its cited claims, and the sentences composed from it."""
    rows = [row(c, numbers[c.paper_id], plan, papers[c.paper_id]) for c in claims]
    return AspectTable(aspect=aspect, rows=rows, sentences=compose(aspect, rows) if rows else [])
