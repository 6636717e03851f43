"""parse_goal: a research goal as typed aspects: the entity asked about, what is measured, the comparison, settings."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache

from tasks.index.text import STOP_WORDS, content_terms
from tasks.ml.embedders import TermWeights
from tasks.models import Aspect, AspectKind
from tasks.settings import PlanSettings

# Words naming what is measured; a phrase whose head is one of them is a measured quantity of the goal.
QUANTITY_WORDS = frozenset(
    """trade-off trade-offs tradeoff tradeoffs accuracy performance efficiency latency cost costs memory
    speed throughput robustness error errors f1 bleu rouge perplexity quality benefits benefit drawbacks
    limitations advantages disadvantages effect effects impact gains improvement improvements
    evaluation results energy runtime complexity usage footprint overhead consumption speedup speedups
    time accuracies risks risk fairness bias calibration generalization stability rate rates accurate savings
    count drop drops failures modes psnr ssim wer cer auc auroc mrr ndcg fid
    exposure threshold thresholds dose instability correlation correlations score scores flops match recall
    variance utilization bitrate bitrates loss losses fpr tpr eer""".split()
)
# How a request is phrased, not what it asks about: "could you recommend work that first introduced X" is about X.
# Matched as whole words: "demonstrated" is phrasing, "demonstrations" (in-context examples) may be the topic.
REQUEST_WORDS = frozenset(
    """introduced introduce introduces introducing focused focus focuses focusing demonstrated demonstrate
    demonstrates utilized utilize utilizes talk talks talked mentioned mentions researchers describes described
    describe suggest suggests suggested recommend recommended like recently various specific particular pertaining
    concerning looking interested want know first paper's methods method techniques technique ways implemented
    implement implements presented developed develop develops leveraged leverage leverages adopted employed
    illustrate illustrates illustrated consider considers considered inform cite cited showcase showcases showcasing
    showed shown reveal reveals revealed reported reports conducted conduct achieved success references reference
    examples example field fields role involved involve marked pertinent centered centred looked projects project
    attempt attempts concept concepts idea ideas novel new address addresses addressed addressing tackle tackles
    tackled certain current different types kinds issue issues problem problems application applications
    means including number numbers dozens hundreds thousands millions billions trillions million billion trillion
    need needs fewer written utilization topic topics form way
    called dubbed termed studied analysed analyzed judged assessed
    similar researcher consensus extent able unable""".split()
)
# Verbs that relate the goal's phrases ("X affects Y", "X reduces Y") and would otherwise join them into one.
RELATION_WORDS = frozenset(
    """affect affects affected affecting improve improves improved improving reduce reduces reduced reducing
    keep keeps keeping increase increases increased decrease decreases decreased enhance enhances achieve achieves
    boost boosts hurt hurts change changes influence influences cause causes enable enables yield yields
    outperform outperforms perform performs apply applies applied applying matter matters preserve preserves
    preserving maintain maintains maintaining retain retains retaining compare compares terms scale scales
    start starts begin begins stop stops assess assesses assessing close closes closing reach reaches appear
    appears recover recovers require requires attend attends succeed succeeds inflate inflates generalize
    generalizes agree agrees disappear disappears beat beats relate relates say says overfit overfits mitigate
    mitigates decide decides evaluate evaluates handle handles match matches differ differs gain lose loses
    rival rivals degrade degrades bring brings sit sits grow grows exist exists suffer suffers wins fail fails
    play plays break breaks benefiting benefited hurting depend depends exceed exceeds surpass surpasses contain
    contains containing""".split()
)
# Nouns naming how the goal's other aspects relate; alone, never what the goal is about.
RELATION_NOUNS = frozenset(
    "relationship relationships relation relations interplay link difference differences".split()
)
# Nouns for a kind of method; alone ("the MD-MPI framework", "RAG solutions", "RNN architectures such as LSTM"), never
# what the goal is about, as "methods" and "techniques" are not.
METHOD_NOUNS = frozenset(
    """approach approaches framework frameworks strategy strategies algorithm algorithms architecture architectures
    solution solutions scheme schemes paradigm paradigms pipeline pipelines mechanism mechanisms""".split()
)
# Nouns that open "the effect of X on Y" and name neither X nor Y.
RELATION_HEADS = frozenset("effect effects impact impacts influence".split())
# Words before a count a goal measures: "the number of tokens", "the amount of data".
COUNT_CUES = [["number", "of"], ["amount", "of"], ["how", "many"], ["how", "much"]]
# Words that rank a measure: "the best ANLS", "higher branch coverage", "the lowest latency".
RANKING_WORDS = frozenset("best better worse worst higher highest lower lowest".split())
# Words before what a goal measures: "measured by FID", "in terms of win rate".
MEASURE_CUES = [
    ["measured", "by"],
    ["evaluated", "by"],
    ["quantified", "by"],
    ["judged", "by"],
    ["assessed", "by"],
    ["terms", "of"],
]
# Adjectives said of a phrase, after it ("keep recall high", "is MEMIT reliable at scale"): no part of it.
PREDICATE_ADJECTIVES = frozenset(
    """high low reliable robust effective efficient accurate stable feasible possible sufficient competitive faithful
    safe fair""".split()
)
# Past participles that do not end in -ed: "the accuracy lost by …", "graphs larger than seen in training".
IRREGULAR_PARTICIPLES = frozenset("lost seen made done given taken shown known found held built kept brought".split())
# Comparatives that end a phrase as an adverb ("reduce inflation expectations faster"), not before a noun.
COMPARATIVES = frozenset(
    "faster slower higher lower larger smaller cheaper stronger weaker longer shorter better worse".split()
)
# Words after a question's verb that compare its subject with what follows ("leak less than", "run faster than").
COMPARED_CUES = COMPARATIVES | {"less", "more", "fewer"}
# Judgements a question asks for, never its topic alone: "which is better", "as good as", "is it true that".
JUDGEMENTS = frozenset("better best worse worst good bad true false".split())
# Words that open a question before its subject: "How does X scale …", "Do X reduce …", "Can X …".
QUESTION_WORDS = frozenset("how why when where whether which what to extent".split())  # "to what extent"
AUXILIARIES = frozenset("do does did is are was were can could will would should has have had may might".split())
# Auxiliaries after which the subject is followed by its verb's base form: "Do X hallucinate", "Can X predict".
VERB_AUXILIARIES = frozenset("do does did can could will would should may might".split())
# What joins a second question to the first: "…, and how does …", "…: how often do …".
QUESTION_JOINTS = frozenset({"and", ";", ":", "but"})
# Words that open a second question after "and" or a comma.
FOLLOW_UP_WORDS = (QUESTION_WORDS - {"to", "extent"}) | AUXILIARIES
# Words of a question that asks about the clause after it: "Is there evidence that X …", "Is it true that X …", "Do
# we know whether X …", "Has anyone shown that X …" (not "Are there works that …", a request for papers).
CLAUSE_OPENERS = frozenset({"that", "whether", "if"})
CLAUSE_WORDS = frozenset(
    "there it any evidence true case clear known we know anyone someone shown found demonstrated proven proved".split()
)
# A full stop that ends a sentence: after a word of two letters or more (not "e.g."), before a capital.
_SENTENCE_END = re.compile(r"(?<=\w\w)(?<!\bvs)(?<!\bal)(?<!\betc)(?<!\bcf)\.\s+(?=[A-Z])")
# Words of a statement saying what the asker studies or wants to learn: "I'm exploring …", "I am interested in …".
INQUIRY_WORDS = frozenset(
    """exploring explore interested interest looking curious researching research studying study investigating
    understand understanding learn learning work working focus focusing""".split()
)
# Prepositions that open a phrase put before the question ("For speech recognition, how does …").
FRONTING_WORDS = frozenset("for in on under at with across among within beyond during given".split())
# Subjects whose verb follows them: "We run …", "I need …", "they use …".
PRONOUNS = frozenset({"i", "we", "they", "you", "it"})
# Words that only point at the phrase after them: "compared with a baseline" is compared "with" it.
DETERMINERS = frozenset({"a", "an", "the"})
# Verbs that open a request ("Survey the evidence on …", "Give me papers on …"); elsewhere they may name a topic
# ("surveys of instruction tuning", "peer review").
IMPERATIVES = frozenset(
    "survey review summarize summarise identify outline explain collect gather give find list show tell name".split()
)
# Verbs a literature request is phrased with ("a study that examines X", "papers expressing concerns about X"), in
# every inflection; unlike "evaluate" or "explain", none of them names a research topic itself.
REQUEST_VERBS = """examine explore investigate discuss propose introduce focus demonstrate utilize talk mention describe
    suggest recommend implement present develop leverage adopt employ illustrate consider showcase reveal report
    conduct address tackle specify express determine highlight emphasize provide aim seek obtain exemplify
    measure deal advocate indicate show offer try build add""".split()


def _inflections(verb: str) -> set[str]:
    """The verb with -s, -es, -ed and -ing as English writes them (specify: specifies, specified, specifying)."""
    if re.search(r"[^aeiou]y$", verb):
        return {verb, f"{verb[:-1]}ies", f"{verb[:-1]}ied", f"{verb}ing"}
    stem = verb[:-1] if verb.endswith("e") else verb
    return {verb, f"{verb}s", f"{verb}es", f"{stem}ed", f"{stem}ing"}


# Fixed phrases of stop words and a noun that finish the phrase before them.
IDIOMS = (("from", "scratch"), ("in", "the", "wild"), ("on", "the", "fly"))
# Measures alone ("the evaluation"), an activity after a modifier that names how ("LLM-as-a-judge evaluation").
ACTIVITY_HEADS = frozenset({"evaluation"})
# Words that bound a quantity by a number: "epsilon below 8", "latency under 100 ms".
NUMBER_BOUNDS = frozenset("below above under over within between".split())
BOUND_WORDS = NUMBER_BOUNDS | {"than", "least", "most"}
# "X and/or Y" lists X and Y
LIST_JOINERS = frozenset({",", "and", "or", "and/or"})
REQUEST_VERB_FORMS = frozenset(form for v in REQUEST_VERBS for form in _inflections(v))
# Stop words of English that name things in research phrases ("recommender system", "full fine-tuning"), never alone
# ("on top of", "of interest").
TERM_STOP_WORDS = frozenset("system full top bottom front side fire interest thick thin bill empty".split())
NOT_TOPIC = (STOP_WORDS - TERM_STOP_WORDS) | REQUEST_WORDS | RELATION_WORDS | LIST_JOINERS | REQUEST_VERB_FORMS
# Nouns that frame the phrase after their "of" ("in the context of NeRF", "the domain of X"), never a topic then.
FRAME_NOUNS = frozenset("context contexts domain domains area areas realm scope framework setting settings".split())
# Nouns that only gather or qualify the phrase after their "of" or "in" ("a set of 3D Gaussians", "the lack of
# robustness", "advancements in X"): it is the topic.
GATHERING_NOUNS = frozenset(
    """set sets subset subsets combination combinations lack variants variant variety range family families series
    development developments advancements advances progress integration importance usage""".split()
)
# How a request ranks the literature it asks for ("the key work on X", "seminal papers about Y").
LITERATURE_QUALIFIERS = frozenset(
    """key seminal foundational pioneering influential notable prominent important main major early earliest
    original representative relevant classic primary significant landmark pivotal groundbreaking leading scholarly
    academic initial subsequent selected""".split()
)
LITERATURE_NOUNS = frozenset(
    "paper papers work works study studies research literature article articles publication publications".split()
)
# What "Which …" may ask for before the phrase naming it: "Which methods for …", "What kinds of …".
KINDS_ASKED_FOR = (
    LITERATURE_NOUNS
    | METHOD_NOUNS
    | DETERMINERS
    | frozenset("methods method techniques technique ways kinds types sorts for of in on".split())
)
# What follows a verb of movement that ends a question's subject: "transfer from", "scale to", "generalize across".
MOTION_CUES = (["from"], ["to"], ["into"], ["across"], ["beyond"])
# Words lemminflect's lexicon knows only as verbs that research writing uses as nouns or adjectives ("at the same
# compute budget", "knowledge edits", "log probabilities", "a complete graph").
NOUNS_IN_RESEARCH = frozenset("compute edit edits template templates hidden log complete embed".split())
# What opens the object of a verb: "to learn a proxy reward", "while avoiding the need", "predicting its".
OBJECT_OPENERS = DETERMINERS | {"its", "their", "our", "his", "her", "this", "these", "those"}
# Adverbs ("explicitly", "specifically", "efficiently") qualify the request; they name a topic only in a term
# whose adjective they grade ("differentially private").
_ADVERB = re.compile(r"\w{3,}(?:ally|ntly|ously|ively|ately|fully|edly|ingly|itly|ctly|ssly|ably|ibly)$")
# Adverbs that single out or date what the request asks for, even before an adjective ("specifically relevant").
REQUEST_ADVERBS = frozenset(
    """specifically particularly especially explicitly recently currently commonly typically previously originally
    generally mainly mostly primarily significantly substantially consistently""".split()
)
# Words before a phrase that make it the setting of the question when it is a name: "on MMLU", "across GLUE",
# "in PopQA"; when it is a versioned model name: "for T5-XXL", "with GPT-4" (unlike "for PTQ", a method); and
# whatever it is: "such as Natural Questions", "including TriviaQA".
SETTING_CUES = frozenset({"on", "across", "in"})
# Prepositions that open an object's phrase ("the outcome of …", "reports for …").
OBJECT_CUES = frozenset("of for in on from with at about".split())
MODEL_CUES = frozenset({"for", "with"})
EXAMPLE_CUES = frozenset({"like", "including"})
SETTING_WORDS = frozenset({"benchmark", "benchmarks", "dataset", "datasets", "suite", "corpus", "corpora"})
# Acronyms that name a field, a family of methods or hardware, not a benchmark, dataset or model.
GENERIC_NAMES = frozenset("ai ml nlp nlu nlg llm llms peft moe sota gpu gpus cpu lora".split())
# Nouns for the people a user study or trial observes: "students", "programmers", "clinicians" (not "people" or
# "annotators", which a vision or annotation paper studies as its object).
POPULATIONS = frozenset(
    """students learners pupils users participants patients clinicians physicians doctors nurses programmers
    developers""".split()
)
# Nouns for a kind of thing the goal names examples of: "benchmarks like MMLU", "tasks such as keypoint detection".
KIND_NOUNS = SETTING_WORDS | frozenset("benchmark tasks task models domains languages metrics systems".split())
# Nouns that, after a name, make a named suite: "D4RL locomotion tasks", "Atari games", "MuJoCo environments".
SUITE_HEADS = frozenset({"task", "tasks", "games", "environments", "splits", "categories", "subsets"})
# Words that hold a condition fixed for a comparison: "at equal FLOPs", "under a fixed memory budget" (and "at the
# same compute budget", where "same" is a stop word before the phrase).
HELD_WORDS = frozenset({"equal", "fixed", "matched", "identical", "comparable"})
# Beginnings of the words after which "against" names a target, not a baseline: attacks, defences, robustness.
ADVERSARIAL_STEMS = tuple(
    "attack defen robust vulnerab resist resilien protect secur safe guard jailbreak succeed optimiz optimis".split()
)
# Words before a phrase that make it what the entity is compared with.
COMPARISON_CUES = frozenset(
    {"than", "versus", "vs", "against", "compare", "compared", "comparing", "relative", "beyond"}
    | {"outperform", "outperforms", "beat", "beats", "rival", "rivals", "exceed", "exceeds"}
    | {"surpass", "surpasses"}
)
# A word kept whole with its digits: 7B, 1.5B, GPT-4o, LLaMA-2, 7B/13B/70B, 1,000; possessive 's is dropped, a plural's
# apostrophe kept ("users' discomfort": no verb after a plural).
_GOAL_TOKEN = re.compile(
    r"\d+(?:\.\d+)?%|\d{1,3}(?:,\d{3})+(?!\d)|[A-Za-z0-9]+(?:[-/@][A-Za-z0-9]+|\.\d+[A-Za-z]*)*(?:['’]s|(?<=s)['’](?!\w))?|[,;:()?!]"
)
_MODEL_SIZE = re.compile(
    r"^(?:\d+x)?\d+(?:\.\d+)?[BMKT](?:/(?:\d+x)?\d+(?:\.\d+)?[BMKT])*(?:-\d+(?:\.\d+)?[BMKT])?$", re.IGNORECASE
)
# A range of model sizes as written ("1B to 3B", "650M-15B"), one word "1B-3B" for the goal's words.
_SIZE_RANGE = re.compile(r"\b(\d+(?:\.\d+)?[BMKT])\s*(?:to|-|–)\s*(\d+(?:\.\d+)?[BMKT])\b", re.IGNORECASE)
# A model size written with its unit ("70B-parameter LLMs"), which states the size as "70B LLMs" does.
_SIZE_WITH_UNIT = re.compile(r"\b(\d+(?:\.\d+)?[BMKT])-param(?:eter)?s?\b", re.IGNORECASE)
_ONE_SIZE = re.compile(r"\d+(?:\.\d+)?[BMKT]", re.IGNORECASE)
_SIZE_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_NAME = re.compile(r"[A-Z].*[A-Z]|[A-Za-z].*\d|\d.*[A-Za-z]")
_NUMBER = re.compile(r"\d[\d.,]*")
_MAGNITUDE = re.compile(r"\d+(?:\.\d+)?(?:x|×|k)", re.IGNORECASE)  # 10x, 2.5×, 32k
_PERCENT = re.compile(r"\d+(?:\.\d+)?%")
_POSSESSIVE = re.compile(r"['’]s$")
# A plural: models, LLMs, GNNs, ViTs (not "class", "LoRA").
_PLURAL = re.compile(r"[a-z]+[^s]s|[A-Z][A-Za-z0-9-]*[A-Z0-9]s")
# A quoted term of a few words: the quotation marks open after no letter and close before none.
_QUOTED = re.compile(r"(?<!\w)[\"“‘']([^\"“”‘’']{2,60}?)[\"”’'](?!\w)")
# A verb's base form by its ending: hallucinate, memorize, quantify (not a noun such as "rate" or "size").
_BASE_VERB = re.compile(r"[a-z]{4,}(?:ate|ize|ise|ify)")
# A measure at a cut-off: pass@1, recall@10, nDCG@10, hits@k.
_AT_K = re.compile(r"[a-z]+@(?:\d+|k)")
# A compound adjective: LoRA-based, task-specific, LLM-integrated, data-driven.
_MODIFIER = re.compile(r"\S+-(?:based|like|style|aware|free|level|wise|oriented|specific|driven|guided|integrated)")
# A model's version or size in its name: GPT-4, T5-XXL, RoBERTa-base.
_MODEL_VARIANT = re.compile(r".*\d.*|.+-(?:base|large|small|medium|tiny|mini|xl|xxl)", re.IGNORECASE)


@dataclass
class _Chunk:
    """A run of consecutive topic words and the stop words just before it."""

    words: list[str] = field(default_factory=list)
    cue: list[str] = field(default_factory=list)
    listed: bool = False  # follows the previous chunk after only a comma, "and" or "or"
    # the auxiliary (or a clause's conjunction) opening the question whose subject the chunk is: "Do X …", "How are X
    # …", "Is there evidence that X …", "…, and do X …"
    subject: str = ""
    follow_up: bool = False  # in a question joined to the first: "…, and how does the gain change with X?"
    # what a number counts or bounds, starting the chunk: "at 6 kbps", "with 1,000 examples", "epsilon below 8"
    counted: bool = False
    context: bool = False  # in a statement of the asker's situation before the question: "I am building a system …"
    # where the parenthesis the chunk stands in opens, -1 outside any: examples or a gloss of the phrase before it
    aside: int = -1
    example: bool = False  # opens a list in parentheses: examples of the phrase before ("methods (LLM-Pruner, …)")
    asked_for: bool = False  # opens the phrase "Which …" or "What …" asks for ("Which methods for X avoid …")

    def is_name(self) -> bool:
        """Whether every word is a name, or a number after one: MMLU, LongBench, LLaMA-2 7B, ASVspoof 2019."""
        return all(is_name(w) or (i > 0 and w.isdigit()) for i, w in enumerate(self.words))

    def is_proper_name(self) -> bool:
        """Words in capitals: "Natural Questions", "Chatbot Arena" (or a field: "Large Language Models")."""
        return all(w[:1].isupper() for w in self.words)


def split_statements(goal: str) -> tuple[list[str], str]:
    """The statements that open a goal before its question ("I am building a retrieval system for legal contracts.
    Which dense retrievers …"), and the question."""
    ends = list(_SENTENCE_END.finditer(goal))
    sentences = _SENTENCE_END.split(goal)
    asking = next((i for i, sentence in enumerate(sentences) if _asks(sentence)), 0)
    if not asking:
        return [], goal
    return sentences[:asking], goal[ends[asking - 1].end() :]


def _inquires(sentence: str) -> bool:
    """Whether the statement says what the asker studies or wants to learn ("I'm exploring research that …", "I am
    interested in sentence simplification."), which names the topic, not the situation they ask from ("We deploy LLM
    agents …"), which is background."""
    return bool(INQUIRY_WORDS & {w.lower() for w in goal_words(sentence)[:5]})


def _asks(sentence: str) -> bool:
    """Whether the sentence asks or requests something: a question, or one opening with a question word, an
    auxiliary or a verb that requests ("Survey …", "Compare …", "Give me papers on …")."""
    first = next(iter(goal_words(sentence)), "").lower()
    return "?" in sentence or first in QUESTION_WORDS | AUXILIARIES | IMPERATIVES | {"compare"}


def goal_words(goal: str) -> list[str]:
    """The goal's words with model sizes, their ranges and versioned names kept whole ("7B", "1B-3B", "GPT-4o"),
    punctuation as tokens."""
    return [re.sub(_POSSESSIVE, "", token) for token in _GOAL_TOKEN.findall(_SIZE_RANGE.sub(r"\1-\2", goal))]


def _parameter_count(size: str) -> float | None:
    """The parameters one model size stands for ("2.7B": 2.7e9), or None for any other word."""
    if not _ONE_SIZE.fullmatch(size):
        return None
    return float(size[:-1]) * _SIZE_SCALE[size[-1].lower()]


def bare_sizes(text: str) -> str:
    """The text with each model size written with its unit as the size alone: "70B-parameter LLMs" → "70B LLMs"."""
    return _SIZE_WITH_UNIT.sub(r"\1", text)


def size_range(word: str) -> tuple[float, float] | None:
    """The parameter counts a range of model sizes spans ("1B-3B": 1e9 to 3e9), or None for any other word."""
    ends = [_parameter_count(end) for end in word.split("-")]
    if len(ends) != 2 or None in ends or not ends[0] < ends[1]:
        return None
    return ends[0], ends[1]


def in_size_range(word: str, span: tuple[float, float]) -> bool:
    """Whether the word is a model size within the range, alone or ending a name ("2.7B", "Mamba-3B")."""
    count = _parameter_count(word.split("-")[-1])
    return count is not None and span[0] <= count <= span[1]


def _quoted(goal: str) -> list[bool]:
    """For each of the goal's words, whether it stands inside quotation marks around several words: a term the asker
    names as one ("'Cause on Tape' (CoT) explanations", "the field of 'learning from human feedback'"), not "users'
    discomfort"."""
    # a quoted word stays in its phrase ("relation 'plans'", "'BLIP-family' models"): its quotes only stress it
    spans = [m.span(1) for m in _QUOTED.finditer(goal) if len(_GOAL_TOKEN.findall(m.group(1))) > 1]
    return [any(a <= m.start() < b for a, b in spans) for m in _GOAL_TOKEN.finditer(goal)]


def _possessors(goal: str) -> list[bool]:
    """For each of the goal's words, whether it is a name in the possessive ("CLIP's accuracy", "Medusa's heads"):
    what owns the phrase after it, an aspect of its own ("the model's accuracy" stays one)."""
    tokens = _GOAL_TOKEN.findall(goal)
    return [bool(_POSSESSIVE.search(t)) and (is_name(t) or (i > 0 and t[0].isupper())) for i, t in enumerate(tokens)]


def is_phrasing(word: str) -> bool:
    """Whether the word phrases the request (stop words, request verbs, adverbs) rather than naming its topic."""
    lowered = word.lower()
    return lowered in NOT_TOPIC or bool(_ADVERB.fullmatch(lowered))


def is_plural(word: str) -> bool:
    """Whether the word is a plural noun's form: models, LLMs, GNNs (not "class", "LoRA")."""
    return bool(_PLURAL.fullmatch(word))


def is_model_size(word: str) -> bool:
    """7B, 110M, 1.5B, 8x7B, 7B/13B."""
    return bool(_MODEL_SIZE.match(word))


def is_percentage(word: str) -> bool:
    """50%, 0.1%: a share the goal holds fixed ("at 50% sparsity", "at 1% FPR")."""
    return bool(_PERCENT.fullmatch(word))


def is_magnitude(word: str) -> bool:
    """10x, 2.5×, 32k: how many times, or thousands of something."""
    return bool(_MAGNITUDE.fullmatch(word))


def head_index(words: list[str]) -> int:
    """Where a phrase's head is: its last word, or the word before its "per" ("cost per query" is a cost)."""
    return next((i for i, w in enumerate(words) if i and w.lower() == "per"), len(words)) - 1


def is_name(word: str) -> bool:
    """A method, model or dataset name: inner capitals or digits (MMLU, LongBench, LLaMA-2, 7B)."""
    return bool(_NAME.search(word))


def _titled_of(words: list[str], i: int) -> bool:
    """Whether words[i] is a stop word inside a name: its "of" ("Chain of Thought", "Mixture of Experts", "Game of
    24"), or a capitalised one ("Segment Anything Model", "Attention Is All You Need")."""
    inside = 0 < i < len(words) - 1
    named = inside and (words[i + 1][:1].isupper() or words[i + 1].isdigit())
    titled = words[i].lower() == "of" or (words[i].istitle() and words[i].isalpha())
    return named and titled and words[i - 1][:1].isupper()


def _multiplies(words: list[str], i: int) -> bool:
    """Whether words[i] is the "times" of a multiple ("models of 25 times more parameters"), not a measured time."""
    return words[i].lower() == "times" and i > 0 and bool(_NUMBER.fullmatch(words[i - 1]))


def _per_unit(words: list[str], i: int) -> bool:
    """Whether words[i] is the "per" of a rate ("FLOPs per token", "cost per query"), which joins its two words."""
    return words[i].lower() == "per" and i + 1 < len(words) and not is_phrasing(words[i + 1]) and words[i + 1].isalnum()


def _version_of(word: str, before: list[str], after: str) -> bool:
    """Whether a one-letter word is the version of the name before it ("Llama 2 13B", "Claude 3 Sonnet") or the
    number inside a term ("type 2 diabetes", "top 1 accuracy"); other single letters name nothing."""
    inside = after.isalpha() and not is_phrasing(after)
    return word.isdigit() and bool(before) and (before[-1][:1].isupper() or inside)


def _noun_use(words: list[str], i: int, chunk: _Chunk) -> bool:
    """Whether a verb's -s form is a plural noun ending an object's phrase: "the outcome of cricket matches in …",
    "for patient reports of …" (not "how accuracy changes with …", "LoRA matches full fine-tuning")."""
    word, after = words[i], words[i + 1].lower() if i + 1 < len(words) else ""
    in_object = chunk.cue[-1:] and chunk.cue[-1] in OBJECT_CUES
    noun_before = bool(chunk.words) and chunk.words[-1].isalpha() and chunk.words[-1].islower()
    verb = word in RELATION_WORDS | REQUEST_VERB_FORMS
    return verb and is_plural(word) and after in OBJECT_CUES and bool(in_object) and noun_before


def _in_idiom(words: list[str], i: int) -> bool:
    """Whether words[i] is in an idiom that ends the phrase before it ("training from scratch", "in the wild")."""
    lowered = [w.lower() for w in words]
    return any(
        lowered[start : start + len(idiom)] == list(idiom)
        for idiom in IDIOMS
        for start in range(max(0, i - len(idiom) + 1), i + 1)
    )


def defines_acronym(words: list[str], i: int) -> bool:
    """Whether words[i] is an acronym in parentheses right after a phrase: "Knowledge Graph (KG)"."""
    return (
        0 < i < len(words) - 1
        and words[i - 1] == "("
        and words[i + 1] == ")"
        and i > 1
        and words[i - 2] not in ",;:()?!"
        and words[i].replace("-", "").isalnum()
        and sum(c.isupper() for c in words[i]) >= 2
        and _spelled_before(words[i], words[max(0, i - 9) : i - 1])
    )


def _spelled_before(acronym: str, before: list[str]) -> bool:
    """Whether the acronym's first and last capitals begin words before it, in that order ("Low-Rank Adaptation
    (LoRA)", even "Language Model (LLM)"; not "1,000 curated examples (LIMA)", where LIMA is a name of its own)."""
    initials = [part[0].upper() for word in before for part in word.split("-") if part]
    capitals = [c for c in acronym if c.isupper()]
    return capitals[0] in initials and capitals[-1] in initials[initials.index(capitals[0]) :]


def _works_on(words: list[str], i: int) -> bool:
    """Whether words[i] is the "working" of "have been working on X": a request's phrasing, unlike working memory."""
    return words[i].lower() in {"work", "works", "worked", "working"} and words[i + 1 : i + 2] == ["on"]


def _states_the_art(words: list[str], i: int) -> bool:
    """Whether words[i] is a word of "the state of the art", which ranks what is asked for and names no topic."""
    idiom = ["state", "of", "the", "art"]
    return any([w.lower() for w in words[start : start + 4]] == idiom for start in range(max(i - 3, 0), i + 1))


def _while_doing(words: list[str], i: int) -> bool:
    """Whether words[i] is the verb of "while doing X" ("while cutting storage by 8x"), not a topic."""
    return i > 0 and words[i - 1].lower() == "while" and words[i].lower().endswith("ing")


def _in_how_clause(words: list[str], i: int) -> bool:
    """Whether words[i] opens the subject of a clause "how (well) X verb …" inside the goal ("benchmarks that measure
    how well LLMs follow …", "studies of how instruction tuning changes …"; not "how many X", "How do X …")."""
    k = i - 1
    while k > 0 and (words[k].lower() in {"well", "often", "far"} | DETERMINERS or _ADVERB.fullmatch(words[k])):
        k -= 1
    return k > 0 and words[k].lower() == "how"


def _asker(words: list[str], i: int) -> bool:
    """Whether words[i] is who asks, or their verb, in "Our group trains …" or "My lab studies …"."""

    def owner(k: int) -> bool:  # words[k] is owned by "our" or "my" and followed by its verb
        verb = words[k + 1] if k + 1 < len(words) else ""
        owned = k > 0 and words[k - 1].lower() in {"our", "my"}
        return owned and verb.islower() and verb.endswith("s") and "VERB" in _readings(verb)

    return owner(i) or owner(i - 1)


def _asks_how(words: list[str], i: int) -> bool:
    """Whether words[i] is the adjective of "how effective are X", "how large does X need to be": the question's
    phrasing."""
    before_auxiliary = words[i + 1 : i + 2] in (["is"], ["are"], ["was"], ["were"]) or (
        bool(AUXILIARIES & {w.lower() for w in words[i + 1 : i + 2]}) and "ADJ" in _readings(words[i])
    )
    return i > 0 and words[i - 1].lower() == "how" and before_auxiliary


def _exact_match(words: list[str], i: int) -> bool:
    """Whether words[i] is the "match" of an exact-match score, a measure, not the verb "X matches Y"."""
    return words[i].lower() in {"match", "matches"} and i > 0 and words[i - 1].lower() == "exact"


def _scales_with(words: list[str], i: int) -> bool:
    """Whether words[i] is the verb of "Y scales with X": how Y grows with X is itself what the goal asks about."""
    return words[i].lower() in {"scale", "scales"} and words[i + 1 : i + 2] == ["with"]


def _relative_to(words: list[str], i: int) -> bool:
    """Whether words[i] is the "relative" of "relative to a dense baseline": a comparison's cue, not a topic word
    ("relative position encoding" keeps it)."""
    return words[i].lower() == "relative" and words[i + 1 : i + 2] == ["to"]


def _success_rate(words: list[str], i: int) -> bool:
    """Whether words[i] is the "success" of a success rate (a measure), not of "achieved success" (phrasing)."""
    return words[i].lower() == "success" and [w.lower() for w in words[i + 1 : i + 2]] in (["rate"], ["rates"])


def _compound_head(words: list[str], i: int) -> bool:
    """Whether words[i] ends a compound ("neural radiance fields", "in-context examples", "word problems"), not a
    request ("in the field of", "examples of")."""
    after_word = i > 0 and words[i - 1].replace("-", "").isalnum() and not is_phrasing(words[i - 1])
    # "user studies", "ablation studies": a kind of study after a noun (not "recent studies", "empirical studies")
    study = words[i].lower() in {"study", "studies"} and after_word and _readings(words[i - 1].lower()) == {"NOUN"}
    compound = words[i].lower() in {"field", "fields", "example", "examples", "problems", "utilization"} and after_word
    return compound or study


def _grades_adjective(words: list[str], i: int) -> bool:
    """Whether words[i] is an adverb that grades the adjective of a term ("differentially private training",
    "computationally efficient attention"), not one that qualifies the request ("specifically designed")."""
    word, rest = words[i].lower(), words[i + 1 : i + 3]
    if not _ADVERB.fullmatch(word) or word in REQUEST_ADVERBS or len(rest) < 2 or not rest[0].isalpha():
        return False
    adjective = rest[0].islower() and "ADJ" in _readings(rest[0]) and not is_phrasing(rest[0])
    return adjective and rest[1] not in ",;:()?!" and not is_phrasing(rest[1])


def _opening_auxiliary(before: list[str]) -> str:
    """The auxiliary when the words before a phrase only open a question whose subject it is: "Do …", "How does …",
    "How robust are …", "What role does …" (not "Can you …", "Which papers are about …"), or the conjunction of the
    clause it asks about ("Is there evidence that …"); else ""."""
    words = [w.lower() for w in before if w.lower() not in DETERMINERS]
    if words[:1] in (["how"], ["what"], ["which"]) and len(words) > 2 and words[2] in AUXILIARIES:
        del words[1]  # "how robust are", "what role does", "which benchmarks do"
    opens = bool(words) and words[-1] in AUXILIARIES and set(words) <= QUESTION_WORDS | AUXILIARIES
    # "Is there evidence that …", "Is it true that …", "Do we know whether …": the clause's subject
    # "What is known about …", "What do we know about …": what is known of it is asked
    asking = set(words[:-2]) <= QUESTION_WORDS | AUXILIARIES | {"we"}
    if words[:1] == ["what"] and words[-2:] in (["known", "about"], ["know", "about"]) and asking:
        return "about"
    clause = len(words) > 1 and words[0] in AUXILIARIES and words[-1] in CLAUSE_OPENERS
    if clause and set(words[1:-1]) <= CLAUSE_WORDS:
        return words[-1]
    return words[-1] if opens else ""


def _main_verb(words: list[str], i: int, example: bool) -> bool:
    """Whether words[i] is a verb's base form ending the subject of "Do X …" or "Can X …": by its ending
    ("hallucinate", "memorize"), or a plain lower-case word after a plural ("larger models produce"; a compound's
    first noun is singular: "model size") or, in an example that is a name, after it ("such as ESM-2 predict")."""
    word = words[i]
    after_name = example and i == 1 and is_name(words[0]) and words[0][0].isupper()  # not "4-bit weight"
    after_gerund = i > 0 and words[i - 1].endswith("ing") and _only_verb(word)  # "Does splatting render …"
    verb = _after_plural(words, i) or (_plain(word) and (after_name or after_gerund))
    return i > 0 and (bool(_BASE_VERB.fullmatch(word)) or verb)


def _plain(word: str) -> bool:
    """A lower-case word in its base form, which may be a verb's: not plural, a gerund, a participle or a measure."""
    plain = word.isalpha() and word.islower() and not re.search(r"(?<!s)s$|ing$", word) and not _participle(word)
    return plain and word not in QUANTITY_WORDS | STOP_WORDS  # "per" joins a measure's unit ("FLOPs per token")


def _after_plural(words: list[str], i: int) -> bool:
    """Whether words[i] is a plain word right after a plural, a verb then ("larger models produce", "3B parameters
    delay it"; a compound's first noun is singular: "model size")."""
    return i > 0 and _plain(words[i]) and is_plural(words[i - 1])


def _only_verb(word: str) -> bool:
    """Whether English uses the word only as a verb in a present form ("render", "survive", "let"; not "help",
    "approach", nor a gerund or participle such as "decoding" or "generated", which name and qualify things)."""
    plain = word.isalpha() and word.islower() and not re.search(r"(?:ing|ed)$", word) and not _participle(word)
    return plain and _readings(word) == {"VERB"} and word not in NOUNS_IN_RESEARCH


def _gives_example(chunk: _Chunk) -> bool:
    """Whether the chunk is an example of the phrase before it: "such as ESM-2", "like LLaVA", "including GPT-4",
    "for example IA3", "(e.g. ColBERT, DPR)" (not "known as", "used as", "by including")."""
    such = chunk.cue in (["such", "as"], ["for", "example"], ["for", "instance"]) or chunk.example
    return such or bool(EXAMPLE_CUES & set(chunk.cue) and chunk.cue[0] != "by")


def _verbs_off(chunks: list[_Chunk]) -> None:
    """After "do/does/did" or a modal, the verb that ran into a question's subject or into the examples listed after
    it ("Why do large language models hallucinate …", "Can protein language models such as ESM-2 predict …", "…, and
    do larger models produce …"), removed; the words after it, their own chunk."""
    for start in reversed([i for i, c in enumerate(chunks) if c.subject in VERB_AUXILIARIES | {"how"}]):
        _verb_off(chunks, start)
    _asked_verb_off(chunks)


def _asked_verb_off(chunks: list[_Chunk]) -> None:
    """The verb after the phrase "Which …" or "What …" asks for, removed: it ran into the phrase ("Which learned index
    structures replace B-trees", "What decoders run in real time") or opens the next ("Which watermarking methods
    survive JPEG compression", "Which methods let spiking neural networks …")."""
    for start in reversed([i for i, c in enumerate(chunks) if c.asked_for]):
        _asked_verb_cut(chunks, start)


def _asked_verb_cut(chunks: list[_Chunk], start: int) -> None:
    """The verb cut after the phrase chunks[start] opens."""
    for i in range(start, len(chunks)):
        # the phrase asked for opens the first chunk unless a word such as "methods" came before it
        opens = i == start and chunks[i].cue[-1:] in (["which"], ["what"])
        words = chunks[i].words
        # the phrase asked for goes on through "methods for X in Y", not past a verb ("Which methods improve X")
        verb_before = any(w in AUXILIARIES | RELATION_WORDS or _readings(w) == {"VERB"} for w in chunks[i].cue)
        if i > start and (verb_before or chunks[i].subject or chunks[i].follow_up != chunks[start].follow_up):
            return
        verb = next(
            (j for j, w in enumerate(words) if (j or not opens) and _only_verb(w) or _after_plural(words, j)), None
        )
        if verb is not None:
            _cut(chunks, i, verb)
            return


def _verb_off(chunks: list[_Chunk], start: int) -> None:
    """The verb cut off the subject chunks[start] or the examples after it."""
    # the subject, then the names listed with it or as its examples ("FedProx or SCAFFOLD converge", "such as
    # TimesFM, Chronos and Lag-Llama forecast")
    end = start + 1
    while end < len(chunks) and (_gives_example(chunks[end]) or chunks[end].listed):
        end += 1
    # a plain word ending the subject before a comparison is its verb ("Does LoRA converge faster than …", "Does
    # speculative decoding cost more energy than …")
    words = chunks[start].words
    compared = end < len(chunks) and bool(COMPARED_CUES & set(chunks[end].cue))
    if compared and len(words) > 1 and _plain(words[-1]):
        _cut(chunks, start, len(words) - 1)
        return
    for i in range(start, end):
        words = chunks[i].words
        # a plain word after a name is a verb only in an example ("such as ESM-2 predict"), not in the subject
        # itself ("QLoRA 4-bit NormalFloat quantization"); after a plural it is one in both
        verb = next((j for j in range(len(words)) if _main_verb(words, j, example=i > start)), None)
        if verb is not None:
            _cut(chunks, i, verb)
            return
    # after a phrase qualifying the subject ("Does distillation from GPT-4 generated instructions let 7B models …",
    # "Do watermarks for LLM-generated text survive paraphrasing …"), a word that can only be a verb
    qualifiers = []
    for i in range(end, len(chunks)):
        if chunks[i].subject or chunks[i].follow_up != chunks[start].follow_up:  # the next question's
            break
        if any(_readings(w) == {"VERB"} for w in chunks[i].cue):  # past the question's verb: its object
            break  # ("… improve the resolve rate")
        words = chunks[i].words
        verb = next((j for j, word in enumerate(words) if _only_verb(word) or _after_plural(words, j)), None)
        if verb is not None:
            _cut(chunks, i, verb)
            return
        qualifiers.append(i)
    # no word only a verb: the question's verb may end the phrase qualifying the subject, before where something goes
    # ("policies for quadruped locomotion transfer from simulation to …", "methods for long documents scale to 1M …")
    if qualifiers:
        i = qualifiers[0]
        words, after = chunks[i].words, chunks[i + 1].cue[:1] if i + 1 < len(chunks) else []
        qualifies = not any("VERB" in _readings(w) for w in chunks[i].cue)  # "for …", not "close the …"
        if (
            qualifies
            and len(words) > 1
            and _plain(words[-1])
            and "VERB" in _readings(words[-1])
            and after in MOTION_CUES
        ):
            _cut(chunks, i, len(words) - 1)


def _cut(chunks: list[_Chunk], i: int, verb: int) -> None:
    """chunks[i] without its word `verb`: the words before stay, the words after are a chunk the verb introduces."""
    words = chunks[i].words
    rest, cue = words[verb + 1 :], [words[verb].lower()]
    if not rest and _BASE_VERB.fullmatch(cue[0]) and not is_phrasing(cue[0]):
        chunks.insert(i + 1, _Chunk(words=cue))  # what the question asks about: "Why do LLMs hallucinate …"
    del words[verb:]
    if rest:
        chunks.insert(i + 1, _Chunk(words=rest, cue=cue))
    if not words:
        del chunks[i]


def _follows_up(before: list[str]) -> bool:
    """Whether a second question has begun: "and" (or "but", a semicolon or colon), then a question word or an
    auxiliary ("…, and how does the gain change", "… and does it hold", "…: how often do …")."""
    return any(a.lower() in QUESTION_JOINTS and b.lower() in FOLLOW_UP_WORDS for a, b in zip(before, before[1:]))


def _relates(words: list[str], i: int) -> bool:
    """Whether words[i] is the "effect" of "the effect of X on Y": how X and Y relate, not a topic (when it opens its
    phrase; "side effects of X" stays)."""
    return words[i].lower() in RELATION_HEADS and words[i + 1 : i + 2] == ["of"]


def _aims_at(words: list[str], i: int) -> bool:
    """Whether words[i] is the "against" of an attack or a defence ("attacks against aligned chat models", "robust
    against label noise"): what follows is its target, not a baseline ("evaluated against RAG pipelines")."""
    return words[i].lower() == "against" and i > 0 and words[i - 1].lower().startswith(ADVERSARIAL_STEMS)


def _speeds_up(words: list[str], i: int) -> bool:
    """Whether words[i] is the verb of "speed up" or "slow down" ("how much do decoding heads speed up generation",
    "does secure aggregation slow down training"), not a speed."""
    verb = [words[i].lower(), *words[i + 1 : i + 2]]
    return verb in (["speed", "up"], ["speeds", "up"], ["slow", "down"], ["slows", "down"])


def is_plain_noun(word: str) -> bool:
    """Whether English uses the word as a noun and never as an adjective: "learning", "accuracy", not "strong"."""
    readings = _readings(word.lower())
    return "NOUN" in readings and "ADJ" not in readings


@lru_cache(maxsize=4096)
def _readings(word: str) -> frozenset[str]:
    """The parts of speech English uses the word as (VERB, NOUN, ADJ …), from lemminflect's lexicon."""
    from lemminflect import getAllLemmas  # its lexicon loads at first use

    return frozenset(getAllLemmas(word))


def _clause_verb(words: list[str], i: int) -> bool:
    """Whether words[i] is a clause's verb, not a topic: a word that can be a verb, right before its object ("to learn
    a proxy reward", "while avoiding the need", "predicting the contact map"), or a word English uses only as a verb
    ("to solve", "methods that generalise") that ends its phrase and is no compound's head."""
    word = words[i]
    if not (word.isalpha() and word.islower()) or word in QUANTITY_WORDS:
        return False
    after = words[i + 1].lower() if i + 1 < len(words) else ""
    readings = _readings(word)
    if after in OBJECT_OPENERS:
        return "VERB" in readings
    plain = not re.search(r"(?:ing|ed)$", word)  # gerunds and participles are nouns and adjectives too
    before = words[i - 1] if i > 0 else ""
    verb_only = readings == {"VERB"} and (word not in NOUNS_IN_RESEARCH or before.lower() == "to")
    # a verb before its object names a task ("detect machine-generated text"); after a lower-case word it is the
    # head of a compound ("manual edits")
    ends = not after or is_phrasing(after) or after in ",;:()?!."
    head = before.isalpha() and before.islower() and not is_phrasing(before)
    return plain and verb_only and ends and not head


def _opens_phrase(words: list[str], i: int) -> bool:
    """Whether words[i] starts its phrase: first, or after a word that phrases the request."""
    return i == 0 or is_phrasing(words[i - 1])


def _gathers(words: list[str], i: int) -> bool:
    """Whether words[i] is a gathering noun that opens its phrase, alone or after an adjective or a literature
    qualifier, before its "of" or "in": "a set of X", "a wide range of X", "significant advancements in X" (not
    "GPU memory usage in", "sample importance of")."""
    if words[i].lower() not in GATHERING_NOUNS or i + 1 == len(words) or words[i + 1].lower() not in {"of", "in"}:
        return False
    before = words[i - 1] if i > 0 else ""
    qualified = before.lower() in LITERATURE_QUALIFIERS or (before.islower() and "ADJ" in _readings(before))
    return _opens_phrase(words, i) or (qualified and _opens_phrase(words, i - 1))


def _frames(words: list[str], i: int) -> bool:
    """Whether words[i] frames, gathers or ranks the phrase after it: "in the context of", "a wide range of", "the
    key work on", "the term hypercolumn"."""
    word, after = words[i].lower(), words[i + 1].lower() if i + 1 < len(words) else ""
    the = i > 0 and words[i - 1].lower() == "the"
    framed = the and ((word in FRAME_NOUNS and after == "of") or word == "term")  # "the term hypercolumn"
    # the adjective before a gathering noun ("a wide range of") qualifies the gathering, not the topic
    qualifies = i + 1 < len(words) and _gathers(words, i + 1) and _opens_phrase(words, i)
    ranks = word in LITERATURE_QUALIFIERS and after in LITERATURE_NOUNS | METHOD_NOUNS | {"methods", "techniques"}
    return framed or _gathers(words, i) or qualifies or ranks


def _participle(word: str) -> bool:
    """measured, optimized, generated, lost (not speed, fine-tuned, LoRA-based)."""
    return bool(re.fullmatch(r"[a-z]{3,}[^e]ed", word)) or word in IRREGULAR_PARTICIPLES


def _lone_phrasing(word: str) -> bool:
    """A word that phrases the request when it stands alone: a participle (or a compound one, "fine-tuned"), a
    comparative ("7B or smaller"), "evidence", a judgement ("which is better", "as good as") or a held condition
    without its noun ("at a fixed number of …")."""
    # "fine-tuned", "pre-trained" (not "graph-based", "self-supervised", which name a kind of method)
    compound_participle = word.lower().split("-")[0] in {"fine", "pre", "post"} and word.endswith("ed")
    lone = {"evidence", *JUDGEMENTS, *HELD_WORDS, *COMPARATIVES}
    return _participle(word) or compound_participle or word.lower() in lone


def _participles_off(chunk: _Chunk) -> list[str]:
    """Past participles and comparatives ending the chunk's phrase ("adversarial suffixes measured by …", "reduce
    inflation expectations faster"), removed: a clause's verb or adverb, not its topic (before its noun, "fine-tuned
    models", "larger graphs", it stays)."""
    ended = []
    while len(chunk.words) > 1 and (_participle(chunk.words[-1]) or chunk.words[-1].lower() in COMPARATIVES):
        ended.insert(0, chunk.words.pop().lower())
    return ended


def _bounded(tokens: list[str], i: int) -> bool:
    """Whether a number bounds tokens[i] ("epsilon below 8", "budgets between 1 and 8")."""
    after = [t.lower() for t in tokens[i + 1 : i + 3]]
    return len(after) == 2 and after[0] in NUMBER_BOUNDS and bool(_NUMBER.fullmatch(after[1]))


def _bound_before(tokens: list[str], i: int) -> bool:
    """Whether a bound precedes tokens[i] ("fewer than 100", "under 5%", "up to 2"): a limit, not the value held."""
    before = [t.lower() for t in tokens[max(0, i - 2) : i]]
    return before[-1:] and before[-1] in BOUND_WORDS or before == ["up", "to"]


def _counted(tokens: list[str], i: int) -> bool:
    """Whether a number counts tokens[i] ("6 kbps") or bounds it."""
    return _bounded(tokens, i) or (i > 0 and bool(_NUMBER.fullmatch(tokens[i - 1])))


def _chunks(goal: str) -> list[_Chunk]:
    """Runs of topic words split at stop words and punctuation, each with the words that introduce it."""
    chunks, current, cue, joiners = [], _Chunk(), [], set()
    tokens, possessors, quoted = goal_words(goal), _possessors(goal), _quoted(goal)
    opened, asides = [-1], []  # where each open parenthesis opened; for each word, the one it stands in
    for j, token in enumerate(tokens):
        if token == "(":
            opened.append(j)
        elif token == ")" and len(opened) > 1:
            opened.pop()
        asides.append(opened[-1])
    for i, word in enumerate(tokens):
        lowered = word.lower()
        if defines_acronym(tokens, i):  # the phrase before it already names the aspect
            continue
        if current.words and quoted[i] != quoted[i - 1]:  # a quoted term is a phrase of its own
            chunks.append(current)
            current = _Chunk()
        is_topic = (quoted[i] and word not in ",;:()?!") or (
            (
                not is_phrasing(word)
                or _noun_use(tokens, i, current)
                or _success_rate(tokens, i)
                or _compound_head(tokens, i)
                or _grades_adjective(tokens, i)
                or _exact_match(tokens, i)
                or _scales_with(tokens, i)
            )
            and word not in ",;:()?!"
            and (
                len(word) > 1
                or word.isupper()
                or _version_of(word, current.words, tokens[i + 1] if i + 1 < len(tokens) else "")
            )
            and not _works_on(tokens, i)
            and not _relative_to(tokens, i)
            and not _speeds_up(tokens, i)
            and not _multiplies(tokens, i)
            and not _clause_verb(tokens, i)
            and not _frames(tokens, i)
            and not _asks_how(tokens, i)
            and not (_relates(tokens, i) and not current.words)
            and not (i == 0 and lowered in IMPERATIVES)
            and not (i > 0 and tokens[i - 1].lower() in PRONOUNS)  # "We run a recommender …": the verb
            and not _asker(tokens, i)
            and not _states_the_art(tokens, i)
            and not _while_doing(tokens, i)
            and not (is_percentage(word) and _bound_before(tokens, i))  # "under 5% loss": a limit, not a setting
            # a number alone ("with 1,000 examples") is a detail; in a name it stays ("Gemini 1.5 Pro", "Game of 24")
            and not (_NUMBER.fullmatch(word) and not current.words)
        )
        if is_topic or (current.words and (_titled_of(tokens, i) or _per_unit(tokens, i) or _in_idiom(tokens, i))):
            if _scales_with(tokens, i) and current.words:  # "accuracy on ImageNet | scale with …"
                chunks.append(current)
                current = _Chunk()
            if not current.words:
                listed = bool(chunks) and joiners <= LIST_JOINERS and bool(joiners)
                # the question's subject: its first phrase, or the first after a fronted phrase and a comma that
                # opens the question ("For speech recognition, how does Whisper's …")
                clause = max((j + 1 for j in range(i) if tokens[j] == ","), default=0)
                fronted = clause > 0 and tokens[0].lower() in FRONTING_WORDS
                # only "evidence" before it, or the word a question opens with when a name follows ("What speedups
                # do FlashAttention-2 … give"; not "What benchmark does the variant version of …")
                opening = all(len(c.words) == 1 and _lone_phrasing(c.words[0]) for c in chunks) or (
                    [c.words for c in chunks] == [tokens[1:2]]
                    and tokens[0].lower() in {"what", "which"}
                    and is_name(word)
                )
                # "What latency do speculative decoding methods achieve …": what is measured first, then the subject
                # (also after a fronted phrase, and "How many sampling steps do distillation methods need …")
                opener = [t.lower() for t in tokens[clause if fronted else 0 :][:2]]
                measured = opener[:1] in (["what"], ["which"]) or opener in (["how", "many"], ["how", "much"])
                measured_first = measured and tokens[i - 1].lower() in VERB_AUXILIARIES
                asked = not any(c.subject for c in chunks) and (opening or fronted or measured_first)
                subject = _opening_auxiliary(tokens[clause if chunks else 0 : i]) if asked else ""
                if asked and not subject and measured_first:
                    subject = tokens[i - 1].lower()
                elif asked and not subject and tokens[0].lower() in IMPERATIVES:  # "Survey methods for detecting X …"
                    subject = tokens[0].lower()
                if subject in CLAUSE_OPENERS and lowered.endswith("ing"):
                    subject = ""  # "… that scaling in-context examples beats …": a gerund's clause or a noun, unsure
                follow_up = _follows_up(tokens[:i])
                if follow_up and not subject:  # "…, and do larger models produce …": the second question's subject
                    joint = max(j for j in range(i) if tokens[j].lower() in QUESTION_JOINTS)
                    subject = _opening_auxiliary(tokens[joint + 1 : i])
                if not subject and not any(c.subject for c in chunks) and _in_how_clause(tokens, i):
                    subject = "how"  # "… measure how well LLMs follow …": the clause's subject, its verb after it
                counted = _counted(tokens, i)
                current = _Chunk(cue=cue, listed=listed, subject=subject, follow_up=follow_up, counted=counted)
                # "at 6 kbps", "for 300 epochs": the count stays ("fewer than 100 scans" bounds it, and goes)
                if i > 0 and _NUMBER.fullmatch(tokens[i - 1]) and not _bound_before(tokens, i - 1):
                    current.words.append(tokens[i - 1])
                current.aside = asides[i]
                # what a question's "Which …" or "What …" asks for: at its start, after a fronted phrase ("For
                # diffusion models, which …") or in a follow-up ("…, and which interventions fix it"), not in a
                # relative clause (", which includes …"), with only a kind of work before it ("Which methods for X
                # …"; not "What is the effect of X", "Which works use X")
                asker = max((j for j in range(i) if tokens[j].lower() in {"which", "what"}), default=-1)
                joined = asker > 0 and tokens[asker - 1].lower() in QUESTION_JOINTS
                current.asked_for = (
                    (asker == 0 or (fronted and asker == clause) or joined)
                    and not subject
                    and {t.lower() for t in tokens[asker + 1 : i]} <= KINDS_ASKED_FOR
                )
                cue, joiners = [], set()
            current.words.append(word)
            if possessors[i]:  # "CLIP's zero-shot accuracy": CLIP, and its zero-shot accuracy
                chunks.append(current)
                current = _Chunk()
            continue
        if current.words:
            cue = _participles_off(current)
            current.counted = current.counted or _bounded(tokens, i - 1)  # "privacy budgets epsilon between 1 and 8"
            chunks.append(current)
            current = _Chunk()
        joiners.add(lowered)
        if word.isalpha() and lowered not in DETERMINERS:
            cue = [*cue, "targeting" if _aims_at(tokens, i) else lowered][-2:]
    if current.words:
        _participles_off(current)
        chunks.append(current)
    listing = Counter(c.aside for c in chunks if c.aside >= 0)
    for chunk in chunks:  # a list in parentheses opens with the first of its examples
        chunk.example = listing[chunk.aside] > 1 and not chunk.listed and chunk.aside >= 0
    _verbs_off(chunks)
    for chunk in chunks:  # a plural's apostrophe has kept its next word from reading as a verb
        chunk.words = [w.rstrip("'’") for w in chunk.words]
    return chunks


def _kind(chunk: _Chunk, previous: AspectKind | None) -> AspectKind:
    lowered = [w.lower() for w in chunk.words]
    # a word a question is "about" is its topic ("reason about time"), not a measure
    about = chunk.cue[-1:] == ["about"] and len(lowered) == 1
    # "in NDCG@10 and Recall@20", "in FID": a measure, though written as a name
    if _AT_K.fullmatch(lowered[-1]) or (len(lowered) == 1 and lowered[0] in QUANTITY_WORDS and not about):
        return AspectKind.QUANTITY
    names = chunk.is_name()
    # what a request is "about" is its topic, a dataset or benchmark too ("references about the PixelHelp dataset")
    named_set = SETTING_WORDS & set(lowered) and chunk.cue[-1:] != ["about"]
    sized = any(is_model_size(part) for w in chunk.words for part in w.split("-"))  # "70B-parameter"
    if (sized and not COMPARISON_CUES & set(chunk.cue)) or named_set:  # not "compared with Code Llama 13B"
        return AspectKind.SETTING
    # what a number counts or bounds is a condition of the measurement ("at 6 kbps", "epsilon below 8"), and so
    # is what a magnitude opens ("at 20x compression ratios")
    counted = chunk.counted and lowered[head_index(lowered)] not in QUANTITY_WORDS
    if counted or is_magnitude(lowered[0]) or is_percentage(lowered[0]):  # "at 50% sparsity", "at 1% FPR"
        return AspectKind.SETTING
    held = lowered[0] in HELD_WORDS and len(lowered) > 1 and {"at", "under"} & set(chunk.cue)
    if held or chunk.cue[-1:] == ["same"]:
        return AspectKind.SETTING
    examples = _gives_example(chunk)
    # a model's name: capitalised words with a version or size among them ("Gemini 1.5 Pro", "GPT-4", "T5-XXL")
    versioned = any(_MODEL_VARIANT.fullmatch(w) for w in chunk.words) and all(
        w[0].isupper() or w[0].isdigit() for w in chunk.words
    )
    model = versioned and MODEL_CUES & set(chunk.cue) and not COMPARISON_CUES & set(chunk.cue)  # not "compared with"
    # "on D4RL locomotion tasks", "on Atari games": a named suite of tasks is where the topic was measured
    suite = (
        is_name(chunk.words[0]) and lowered[0] not in GENERIC_NAMES and lowered[-1] in SUITE_HEADS and len(lowered) > 1
    )
    # a name with a titled variant: "on SWE-bench Verified", "on MMLU Pro" (not a titled field, "Vision-Language
    # Pre-training", whose parts are only capitalised)
    coined = any(sum(c.isupper() or c.isdigit() for c in part) > 1 for part in chunk.words[0].split("-"))
    variant = coined and chunk.is_proper_name() and lowered[0] not in GENERIC_NAMES
    if examples or ((names or suite or variant) and SETTING_CUES & set(chunk.cue)) or model:
        return AspectKind.SETTING
    if chunk.listed and previous is AspectKind.SETTING:
        return AspectKind.SETTING
    head = lowered[head_index(lowered)]
    measure = head in QUANTITY_WORDS and not (head in ACTIVITY_HEADS and len(lowered) > 1) and not about
    ranked = lowered[0] in RANKING_WORDS and len(lowered) > 1  # "the best ANLS", "higher branch coverage"
    if measure or ranked or _AT_K.fullmatch(head) or chunk.cue in COUNT_CUES:
        return AspectKind.QUANTITY
    # "a speedup over FasterTransformer", "gains in accuracy over dense models"
    if COMPARISON_CUES & set(chunk.cue) or (chunk.cue[-1:] == ["over"] and previous is AspectKind.QUANTITY):
        return AspectKind.COMPARISON
    if chunk.listed and previous is AspectKind.COMPARISON:
        return AspectKind.COMPARISON
    return AspectKind.TOPIC


def word_idf(word: str, weights: TermWeights) -> float:
    """The IDF of a word's rarest term ("LoRA-based" → "lora"); 0 for a word of stop words only."""
    return max((weights.weight(t) for t in content_terms(word)), default=0.0)


def known_idf(word: str, weights: TermWeights, settings: PlanSettings) -> float:
    """The word's IDF, reduced when no paper of the corpus uses it: a word the corpus lacks names no topic it holds."""
    known = any(weights.known(t) for t in content_terms(word))
    return word_idf(word, weights) * (1.0 if known else settings.unknown_word_share)


def specificity(words: list[str], weights: TermWeights | None, settings: PlanSettings) -> float:
    """How much a phrase singles out its papers: its rarest word's corpus IDF and a share of the others' (one rare
    name outweighs a run of common words), or without a corpus, names and compounds counting most."""
    if weights is not None:
        idfs = sorted((known_idf(w, weights, settings) for w in words), reverse=True)
        return idfs[0] + settings.other_words_share * sum(idfs[1:]) if idfs else 0.0
    return sum(1.0 + 1.5 * is_name(w) + 0.5 * ("-" in w) for w in words)


def _everywhere(word: str, weights: TermWeights | None, settings: PlanSettings) -> bool:
    """Whether so many of the corpus's papers use the word that alone it names no topic ("models")."""
    shares = [weights.paper_share(t) for t in content_terms(word)] if weights is not None else []
    return bool(shares) and min(shares) >= settings.generic_word_share


def _names_a_topic(text: str, weights: TermWeights | None, settings: PlanSettings) -> bool:
    """Whether a question's subject is specific enough to be its entity: a word of it few papers use."""
    if weights is None:
        return singles_out(text, weights, settings)
    shares = [weights.paper_share(t) for t in content_terms(text)]
    return bool(shares) and min(shares) <= settings.subject_max_share


def singles_out(text: str, weights: TermWeights | None, settings: PlanSettings) -> bool:
    """Whether the phrase singles out some papers: several words, or one word that few of the corpus's papers use."""
    words = text.split()
    if len(words) > 1 or weights is None:
        return True
    shares = [weights.paper_share(t) for t in content_terms(words[0])]
    return bool(shares) and min(shares) <= settings.max_query_paper_share


def _chunk_kinds(chunks: list[_Chunk]) -> list[AspectKind]:
    """Each chunk's kind: by its own words and cue, then by the phrases it is listed with."""
    kinds: list[AspectKind] = []
    for i, chunk in enumerate(chunks):
        kind = _kind(chunk, kinds[-1] if kinds else None)
        # what a question's subject "matches" is what it is compared with ("Do adapters match full fine-tuning …"),
        # unlike a request's "studies that match ROI embeddings with …"
        matched = {"match", "matches"} & set(chunk.cue) and any(c.subject for c in chunks[:i])
        kinds.append(AspectKind.COMPARISON if kind is AspectKind.TOPIC and matched else kind)
    # a list of names after "on", "in" or "across" is where the topic was measured ("on Natural Questions and
    # TriviaQA"); capitalised words count as a name there when a name such as TriviaQA is listed with them
    start = 0
    while start < len(chunks):
        end = next((j for j in range(start + 1, len(chunks)) if not chunks[j].listed), len(chunks))
        group = chunks[start:end]
        names = all(c.is_name() or c.is_proper_name() for c in group) and any(c.is_name() for c in group)
        if len(group) > 1 and names and SETTING_CUES & set(group[0].cue):
            kinds[start:end] = [k if k is AspectKind.QUANTITY else AspectKind.SETTING for k in kinds[start:end]]
        start = end
    # a name listed just before a setting is one too ("for T5-XXL and 7B decoder models"), and so is a name listed
    # before a quantity measured on a name ("GSM8K and MATH accuracy": accuracy on GSM8K)
    for i in range(len(chunks) - 2, -1, -1):
        after, kind = chunks[i + 1], kinds[i + 1]
        on_name = kind is AspectKind.QUANTITY and len(after.words) > 1 and is_name(after.words[0])
        named = chunks[i].is_name() or (kind is AspectKind.SETTING and chunks[i].is_proper_name())  # "Cora and OGB"
        measure = kinds[i] is AspectKind.QUANTITY  # "in FID and CLIP score": both measured
        if after.listed and (kind is AspectKind.SETTING or on_name) and named and not measure:
            kinds[i] = AspectKind.SETTING
    # what a question is "measured by" or asked "in terms of" is measured, with the phrases listed after it
    measured = False
    for i, chunk in enumerate(chunks):
        if chunk.cue[-2:] in MEASURE_CUES or (chunk.listed and measured):
            kinds[i], measured = AspectKind.QUANTITY, True
        else:
            measured = False
    # "Compare A, B and C on …" and "Has anyone compared A and B …" ask about A, B and C
    for i, chunk in enumerate(chunks):
        if (
            kinds[i] is not AspectKind.COMPARISON
            or (i and not chunk.listed)
            or chunks[0].cue[-1:] not in (["compare"], ["compared"])
        ):
            break
        kinds[i] = AspectKind.TOPIC
    return kinds


def parse_goal(goal: str, weights: TermWeights | None = None, settings: PlanSettings | None = None) -> list[Aspect]:
    """The goal's aspects in its order; the most specific topic phrase becomes the central entity."""
    settings = settings or PlanSettings()
    aspects: list[Aspect] = []
    # a participle alone ("policies are optimized against …", "as measured by …") is a verb, and evidence alone ("is
    # there evidence that …") the request, unless that is all there is ("evidence retrieval" is a topic)
    statements, question = split_statements(goal)
    context = [replace(c, context=not _inquires(s)) for s in statements for c in _chunks(s)]
    found = [*context, *_chunks(question)]
    # a percentage alone ("fewer than 1% of parameters") is a detail, as a number alone is
    lone = [
        len(c.words) == 1
        and (_lone_phrasing(c.words[0]) or c.words[0].lower() in TERM_STOP_WORDS or is_percentage(c.words[0]))
        for c in found
    ]
    chunks = [c for c, alone in zip(found, lone) if not alone] or found
    for chunk in chunks:
        if len(chunk.words) > 1 and chunk.words[-1] in PREDICATE_ADJECTIVES:
            chunk.words.pop()
        # "the best open-source models" ranks what is asked for, which the papers need not rank
        if len(chunk.words) > 1 and chunk.words[0].lower() in RANKING_WORDS and is_plural(chunk.words[-1]):
            chunk.words.pop(0)
        # what a question asks to "speed up" or "slow down" is measured by its speed ("… heads speed up generation")
        if chunk.cue[-2:] in (["speed", "up"], ["slow", "down"]):
            chunk.words.append("speed")
    kinds = _chunk_kinds(chunks)
    # a rate the question's verb cut from its measure is the measure's unit ("How much energy do servers consume per
    # generated token": energy per generated token)
    for i in range(len(chunks) - 1, 0, -1):
        measure = next((j for j in range(i - 1, -1, -1) if kinds[j] is AspectKind.QUANTITY), None)
        per = ["per"] if chunks[i].cue[-1:] == ["per"] else []  # "… add per request": the verb ended the chunk
        if (per or chunks[i].words[0].lower() == "per") and measure is not None:
            chunks[measure].words += per + chunks.pop(i).words
            del kinds[i]
    for chunk, kind in zip(chunks, kinds):
        # a gerund before the name or size that opens a setting is its clause's verb ("when fine-tuning LLaMA 7B",
        # "of pretraining 7B models"; not "training dataset", "instruction-following benchmarks")
        words = chunk.words
        gerund = len(words) > 1 and re.fullmatch(r"[a-z-]{3,}ing", words[0]) and is_name(words[1])
        if kind is AspectKind.SETTING and gerund:
            words.pop(0)
    # a topic or comparison of one word most papers use ("models below 10B versus models above 100B") names none,
    # a relation alone ("the relationship between data size and accuracy") is between the aspects it relates, and a
    # kind of method alone ("the MD-MPI framework") is the method's, unless that is all there is
    generic = [
        k in {AspectKind.TOPIC, AspectKind.COMPARISON}
        and len(c.words) == 1
        and (_everywhere(c.words[0], weights, settings) or c.words[0].lower() in RELATION_NOUNS | METHOD_NOUNS)
        for c, k in zip(chunks, kinds)
    ]
    # an adjective alone before "and" or "or" qualifies the noun of the phrase listed after it ("blind and low-vision
    # users"), which a question then asks about
    qualifiers = set()
    for chunk, after in zip(chunks, chunks[1:]):
        word = chunk.words[0]
        if len(chunk.words) == 1 and word.islower() and "ADJ" in _readings(word) and after.listed and after.words[1:]:
            qualifiers.add(word)
            after.subject, chunk.subject = after.subject or chunk.subject, ""
    subject, follow_ups, background, example_of = None, set(), set(), ""
    alone = [not later.listed for later in chunks[1:]] + [True]  # no phrase is listed after it
    for chunk, kind, skip, single in zip(chunks, kinds, generic if not all(generic) else [False] * len(chunks), alone):
        if skip:
            continue
        text = " ".join(chunk.words)
        # "methods such as YaRN and NTK scaling": each listed example is one of the phrase before the first
        if _gives_example(chunk) and aspects:
            example_of = aspects[-1].text
        elif not chunk.listed:
            example_of = ""
        said = next((a for a in aspects if a.text.lower() == text.lower()), None)
        # said in the context and asked about in the question: what the question asks about
        restated = said is not None and not chunk.context and text.lower() in background
        if restated:
            background.discard(text.lower())
        elif said is None:
            said = Aspect(text=text, kind=kind, example_of=example_of)
            aspects.append(said)
            if chunk.context:
                background.add(text.lower())
            if chunk.follow_up:
                follow_ups.add(text)
        else:
            continue
        # a follow-up's subject only when the first question asks about none and it is one phrase ("What success
        # rates …, and does differential privacy reduce them?", not "…, and how do X and Y differ?")
        # a clause's subject ("works that discuss how LLMs manipulate …") is not what the request asks about
        asked = chunk.subject not in {"", "how"} and kind is AspectKind.TOPIC
        asks = asked and (not chunk.follow_up or (subject is None and single))
        subject = said if asks else subject
    # the people a study observes, named by a plain noun ("do students show …", "how do clinicians diagnose …"), are
    # where it was measured, not what it is about: the method they use is ("low-vision users" may be the topic)
    for a in aspects:
        if a.kind is AspectKind.TOPIC and a.text.lower() in POPULATIONS:
            a.kind = AspectKind.SETTING
    # a kind of thing alone, with examples, is said by its examples: "on benchmarks like RepoBench or CrossCodeEval"
    # asks about RepoBench and CrossCodeEval, and a paper naming any benchmark says nothing of them
    exemplified = {a.example_of for a in aspects if a.example_of}
    aspects = [a for a in aspects if not (a.text in exemplified and a.text.lower() in KIND_NOUNS)]
    # every goal asks about something: when no topic phrase singles out papers ("used the RealNews dataset for
    # pretraining" leaves "pretraining"), its most specific phrase of any kind is the entity
    # a compound adjective alone ("delimiter-based or instruction hierarchy defenses") qualifies a noun it shares
    topics = [a for a in aspects if a.kind is AspectKind.TOPIC and not _MODIFIER.fullmatch(a.text)]
    topics = [a for a in topics if a.text not in qualifiers]
    # the first question names what the goal is about; the context before it sets the scene and a follow-up ("…, and
    # how does it change with X?") refines it
    asked = [a for a in topics if a.text.lower() not in background]
    compared = any(a.kind is AspectKind.COMPARISON and a.text.lower() not in background for a in aspects)
    topics = asked if compared or any(singles_out(a.text, weights, settings) for a in asked) else topics
    first = [a for a in topics if a.text not in follow_ups]
    topics = first if any(singles_out(a.text, weights, settings) for a in first) else topics
    specific = any(singles_out(a.text, weights, settings) for a in topics)
    candidates = (topics if specific else []) or [a for a in aspects if a.kind is AspectKind.COMPARISON] or aspects
    if subject in topics and _names_a_topic(subject.text, weights, settings):
        # what the question asks about, however common its words ("Do retrieval-enhanced language models reduce …")
        subject.kind = AspectKind.ENTITY
    elif candidates:
        prior = [settings.subject_prior] + [1.0] * (len(candidates) - 1)
        central = max(zip(candidates, prior), key=lambda c: specificity(c[0].text.split(), weights, settings) * c[1])[0]
        central.kind = AspectKind.ENTITY
    return aspects
