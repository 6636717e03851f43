"""The dense extra: resumable corpus vectors, the dense search channel, token-level semantic claim support."""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tasks.backends.factory import offline_models
from tasks.index import corpus as corpus_module
from tasks.index.corpus import ingest_corpus, load_index
from tasks.io import atomic
from tasks.ml import dense
from tasks.models import Claim, IssueKind, Label, Paper, SearchResult
from tasks.plan import plan_queries
from tasks.rank import goal_token_weights, merge_rank
from tasks.settings import HybridSearchSettings, Settings
from tasks.sources.arxiv import ArxivSource
from tasks.sources.paper_source import CorpusSource
from tasks.verify import support_score, verify_one
from tests.factories import MOE_LORA_PAPER as PAPER

pytestmark = pytest.mark.skipif(not dense.dense_installed(), reason="the dense extra is not installed")
FIXTURE = Path(__file__).parent / "fixtures" / "mini_corpus.jsonl"
# over MAX_TOKENS on its own, and unrelated to TAIL
FILLER = (
    "We surveyed 40 coral reefs across the western Pacific every year for a decade. Bleaching followed marine "
    "heatwaves in most years, and recovery took longer on reefs near river mouths. Fish biomass was highest where "
    "fishing had been banned for over twenty years. Sediment cores showed that runoff from farmland carried "
    "nutrients far offshore. Crown-of-thorns starfish outbreaks began after floods and spread along the prevailing "
    "currents. Reef managers who combined fishing bans with catchment restoration saw the fastest recovery of coral "
    "cover. Divers counted juvenile corals on settlement tiles placed at three depths. Deeper tiles recruited fewer "
    "corals but lost fewer of them to storms. Water temperature loggers were replaced every six months and "
    "calibrated against ship-based readings. "
)
TAIL = "Soil bacterial diversity fell sharply after two consecutive seasons of drought."
DROUGHT_CLAIM = "Drought reduces the diversity of bacteria living in soil."


def uniform(term: str) -> float:
    return 1.0


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """A private copy of the fixture corpus, its index not yet loaded by this process."""
    path = tmp_path / "corpus.jsonl"
    shutil.copy(FIXTURE, path)
    monkeypatch.setattr(corpus_module, "_loaded", {})
    return path


def built_vectors(corpus: Path, cache: Path) -> Path:
    """The corpus's MiniLM vectors where `sovereign corpus embed` puts them (its flow: tests/test_embed.py)."""
    target, _ = ingest_corpus(corpus, cache)
    vectors_file = dense.dense_dir(target) / "vectors.npy"
    vectors_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(vectors_file, dense.encode(load_index(corpus, cache).texts()).astype(np.float32))
    return vectors_file


def test_vectors_load_mapped_as_float32_and_an_earlier_float16_file_is_converted_once(corpus, tmp_path, monkeypatch):
    target, _ = ingest_corpus(corpus, tmp_path / "cache")
    texts = load_index(corpus, tmp_path / "cache").texts()
    vectors_file = built_vectors(corpus, tmp_path / "cache")
    built = np.load(vectors_file)
    assert built.dtype == np.float32
    np.save(vectors_file, built.astype(np.float16))  # as an earlier version stored them

    def read_only(*args: object) -> None:
        raise PermissionError("read-only cache")

    with monkeypatch.context() as patch:
        patch.setattr(atomic.os, "replace", read_only)
        in_memory = dense.load_dense(target, len(texts))
    assert in_memory.dtype == np.float32 and np.load(vectors_file).dtype == np.float16
    assert not [f for f in vectors_file.parent.iterdir() if "partial" in f.name]

    loaded = dense.load_dense(target, len(texts))
    assert isinstance(loaded, np.memmap) and loaded.dtype == np.float32
    assert np.allclose(loaded, built, atol=1e-3) and np.load(vectors_file).dtype == np.float32
    assert not [f for f in vectors_file.parent.iterdir() if "partial" in f.name]
    assert dense.load_dense(target, len(texts) + 1) is None  # vectors of another corpus size are never searched


def test_search_uses_the_dense_channel_and_the_source_cache_key_says_so(corpus, tmp_path):
    cache = tmp_path / "cache"
    plain = CorpusSource.open(corpus, cache)
    assert plain.dense_model == "" and plain.index.dense is None
    assert "lexical search alone (sovereign corpus embed adds dense search)" in plain.searched
    built_vectors(corpus, cache)

    # the same process (a warm worker) searches with the vectors `corpus embed` wrote after it loaded the index
    source = CorpusSource.open(corpus, cache)
    assert source.dense_model == dense.DENSE_MODEL  # cached searches of the lexical-only index are not reused
    assert source.searched == f"{len(source.index)} papers, lexical and dense ({dense.DENSE_MODEL}) search"
    # shares no content word with the coral paper: only the dense channel can find it
    query = "sea temperature rise makes polyps expel their symbiotic algae"
    assert "Coral Reef Bleaching Thresholds" not in [p.title for p in plain.search(query, 5)]
    assert "Coral Reef Bleaching Thresholds" in [p.title for p in source.search(query, 3)]
    assert source.search("the of and", 3) == []


def test_dense_feedback_lifts_a_paper_near_the_top_results_but_not_nearer_the_query(corpus, tmp_path, monkeypatch):
    index = load_index(corpus, tmp_path / "cache")
    n, weight = len(index), HybridSearchSettings().dense_feedback_weight
    query = "mixture of LoRA experts for multi-task fine-tuning"
    # synthetic vectors: the query is axis 0; each paper leans toward it, less with each row, on an axis of its own
    lean = np.linspace(0.2, 0.1, n)
    vectors = np.zeros((n, n + 1), dtype=np.float32)
    vectors[:, 0] = lean
    vectors[np.arange(n), np.arange(n) + 1] = np.sqrt(1 - lean**2)
    monkeypatch.setattr(corpus_module, "encode", lambda texts: np.eye(1, n + 1, dtype=np.float16))

    def ranked(feedback_weight: float) -> list[str]:
        hybrid = HybridSearchSettings(dense_feedback_weight=feedback_weight)
        return [p.id for p in replace(index, dense=vectors).search(query, n, hybrid)]

    before = ranked(0.0)
    top, last = [index.row_of(i) for i in before[:5]], index.row_of(before[-1])
    # the last paper turned toward the first five, as close to the query as before: only feedback can lift it
    vectors[last, 1:] = vectors[top, 1:].sum(axis=0)
    vectors[last, 1:] *= np.sqrt(1 - lean[last] ** 2) / np.linalg.norm(vectors[last, 1:])
    assert ranked(0.0)[-1] == before[-1]
    assert ranked(weight).index(before[-1]) < n - 1


def test_merge_rank_lifts_a_paper_that_paraphrases_the_goal_without_its_words():
    plan = plan_queries.fn("Which papers show that warmer seas make corals expel their algae?")
    # no candidate states a word of the goal: only its meaning can reorder them
    off_topic = [
        Paper(id=f"2401.{i:05d}", title=f"Adapters {i}", abstract=f"Low-rank adapters cut fine-tuning memory by {i}0%.")
        for i in range(1, 13)
    ]
    paraphrase = Paper(
        id="2402.00001", title="Bleaching", abstract="Reef polyps eject symbiotic zooxanthellae in heat."
    )
    results = [SearchResult(query=plan.queries[0], papers=[*off_topic, paraphrase])]
    embedder, weights = offline_models(ArxivSource(query_url="http://127.0.0.1:9/?{}"), results)

    def position(candidates: int) -> int:
        settings = Settings().rank.model_copy(update={"maxsim_candidates": candidates})
        return [r.paper.id for r in merge_rank.fn(plan, results, embedder, weights, settings)].index(paraphrase.id)

    assert position(0) == len(off_topic)
    assert position(30) < len(off_topic)


def test_a_text_embeds_the_same_alone_or_padded_in_a_batch():
    texts = ["a short text", FILLER + TAIL]
    assert np.allclose(dense.encode(texts), np.vstack([dense.encode([t]) for t in texts]), atol=2e-3)
    assert dense.encode([]).shape == (0, 384)


def test_token_states_are_unit_vectors_without_special_tokens_and_keep_a_long_texts_tail():
    _, tokenizer = dense._runtime()
    (short,) = dense.token_states(["Coral reefs bleach."])
    assert short.shape == (len(tokenizer.encode("Coral reefs bleach.").ids) - 2, 384)  # no [CLS], [SEP], padding
    assert np.allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)
    assert tokenizer.encode(FILLER + TAIL).overflowing  # TAIL lies past MAX_TOKENS
    with_tail, without_tail = dense.maxsim(DROUGHT_CLAIM, [FILLER + TAIL, FILLER]).mean(axis=1)
    assert with_tail > without_tail + 0.2


def test_maxsim_ranks_a_paraphrase_above_an_unrelated_sentence():
    finding = "MoE LoRA adapters outperform dense LoRA on heterogeneous multi-task mixtures."
    paraphrase = "Routing tokens among several low-rank experts works better than one adapter when tasks differ."
    unrelated = "Bacterial diversity in dry soil fell after two seasons without rain."
    best = dense.maxsim(paraphrase, [finding, unrelated])
    assert best.shape == (2, len(dense.token_states([paraphrase])[0]))
    assert best[0].mean() > best[1].mean() + 0.15


def test_token_words_name_the_word_of_each_token_vector_past_the_first_piece_too():
    pieced = dense.token_words("LoRA-based zooxanthellae")
    assert len(pieced) == len(dense.token_states(["LoRA-based zooxanthellae"])[0])
    assert set(pieced) == {"LoRA", "-", "based", "zooxanthellae"} and pieced.count("zooxanthellae") > 1
    long_words = dense.token_words(FILLER + TAIL)
    assert len(long_words) == len(dense.token_states([FILLER + TAIL])[0])
    assert long_words[-3:] == ["of", "drought", "."]


def test_token_states_of_the_first_pieces_leave_a_long_texts_tail_out():
    whole, first = dense.token_states([FILLER + TAIL]) + dense.token_states([FILLER + TAIL], max_pieces=1)
    assert len(first) == dense.MAX_TOKENS - 2 < len(whole)
    assert np.allclose(first, whole[: len(first)], atol=1e-6)  # the same piece, encoded alike


def test_token_states_called_from_threads_under_a_tight_bound_return_every_texts_vectors(monkeypatch):
    monkeypatch.setattr(dense, "_token_vectors", {})
    monkeypatch.setattr(dense, "_TOKEN_VECTORS_HELD", 6)  # every call evicts what the others just stored
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]

    def states(thread: int) -> list[int]:
        texts = [f"{words[(thread + i) % 8]} {words[(thread * 3 + i) % 8]}" for i in range(40)]
        return [len(vectors) for i in range(0, 40, 4) for vectors in dense.token_states(texts[i : i + 4])]

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(states, range(4)))
    assert all(len(c) == 40 and min(c) >= 2 for c in counts)


class StemWeights:
    """TermWeights stand-in: an IDF per stemmed term, 1 for the rest."""

    def __init__(self, idf: dict[str, float]):
        self.idf = idf

    def weight(self, term: str) -> float:
        return self.idf.get(term, 1.0)


def test_goal_tokens_weigh_by_their_words_idf_and_the_requests_phrasing_weighs_nothing():
    goal = "Could you recommend papers on coral bleaching?"
    token_weights = dict(zip(dense.token_words(goal), goal_token_weights(goal, StemWeights({"bleach": 6.0}))))
    assert token_weights["bleaching"] == 6.0 and token_weights["coral"] == 1.0
    assert token_weights["Could"] == token_weights["recommend"] == token_weights["on"] == token_weights["?"] == 0.0
    assert goal_token_weights("X and Y", StemWeights({})).tolist() == [1.0, 1.0, 1.0]


def test_token_states_encode_each_text_once_and_hold_a_bounded_number_of_token_vectors(monkeypatch):
    _, tokenizer = dense._runtime()
    texts = ["alpha beta", "gamma delta", "beta gamma", "delta alpha"]
    rows = {t: len(tokenizer.encode(t).ids) - 2 for t in texts}
    monkeypatch.setattr(dense, "_token_vectors", {})
    monkeypatch.setattr(dense, "_TOKEN_VECTORS_HELD", rows[texts[0]] + rows[texts[1]])
    encoded: list[int] = []
    real = dense._hidden_states
    monkeypatch.setattr(
        dense, "_hidden_states", lambda pieces, quantized=False: encoded.append(len(pieces)) or real(pieces, quantized)
    )
    first = dense.token_states([texts[0], texts[1], texts[0]])
    assert encoded == [2] and np.array_equal(first[0], first[2])
    dense.token_states([texts[1]])
    assert encoded == [2]  # held from the first call, and now the most recently used
    (third,) = dense.token_states([texts[2]])
    oldest_gone = [(texts[1], False, 0), (texts[2], False, 0)]
    assert encoded == [2, 1] and list(dense._token_vectors) == oldest_gone
    # a call needing more than the bound still returns every text's vectors, then the oldest go first
    mixed = dense.token_states(texts)
    assert encoded == [2, 1, 2] and np.array_equal(mixed[2], third) and len(mixed) == 4
    dense.token_states([texts[3]])
    assert encoded == [2, 1, 2] and list(dense._token_vectors) == [(texts[2], False, 0), (texts[3], False, 0)]
    dense.token_states([texts[3]], quantized=True)  # the int8 model's states are held apart from the float ones
    assert encoded == [2, 1, 2, 1] and list(dense._token_vectors)[-1] == (texts[3], True, 0)


def test_the_int8_model_is_written_once_and_its_token_states_keep_to_the_float_models(monkeypatch):
    directory = dense._model_directory()
    written = dense.quantize_model(directory)
    modified = written.stat().st_mtime_ns
    assert dense.quantize_model(directory) == written and written.stat().st_mtime_ns == modified
    assert written.stat().st_size < (directory / "model.onnx").stat().st_size / 3  # int8 weights, not float32
    texts = [FILLER + TAIL, "Routing tokens among several low-rank experts works better than one adapter."]
    for exact, quantized in zip(dense.token_states(texts), dense.token_states(texts, quantized=True)):
        cosines = (exact * quantized).sum(axis=1)
        assert cosines.mean() > 0.95 and not np.allclose(cosines, 1.0, atol=1e-4)


def test_semantic_support_credits_a_paraphrase_and_not_an_unrelated_claim():
    paraphrase = "Routing tokens among several low-rank experts works better than one adapter when tasks differ."
    unrelated = "Bacterial diversity in dry soil fell after two seasons without rain."
    lexical, _ = support_score(paraphrase, PAPER, uniform)
    semantic, evidence = support_score(paraphrase, PAPER, uniform, semantic=True)
    assert semantic > lexical
    assert "heterogeneous multi-task mixtures" in evidence
    assert support_score(unrelated, PAPER, uniform, semantic=True)[0] < Settings().verify.weak_threshold


def test_a_claim_backed_by_the_last_sentence_of_a_long_abstract_scores_as_if_that_sentence_stood_alone():
    paper = Paper(id="p", title="Field notes", abstract=FILLER + TAIL)
    score, evidence = support_score(DROUGHT_CLAIM, paper, uniform, semantic=True)
    alone, _ = support_score(DROUGHT_CLAIM, paper.model_copy(update={"abstract": TAIL}), uniform, semantic=True)
    without, _ = support_score(DROUGHT_CLAIM, paper.model_copy(update={"abstract": FILLER}), uniform, semantic=True)
    assert evidence == TAIL
    assert score >= alone - 1e-6 and alone > without + 0.2


def test_semantic_support_leaves_the_hard_consistency_checks_in_charge():
    settings = Settings().verify
    assert settings.semantic_support
    text = "MoE LoRA adapters do not outperform dense LoRA on heterogeneous multi-task mixtures"
    checked = verify_one(
        Claim(id="c", text=text, paper_id=PAPER.id, source_sentence=text, start=0, end=len(text)), PAPER, settings
    )
    assert checked.label is Label.UNSUPPORTED and any(i.kind is IssueKind.NEGATION for i in checked.issues)


def synthetic_pairs(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """Claims whose evidence shares the first 8 of 16 dimensions with them, and whose decoys share the last 8."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(count):
        claim = rng.normal(size=(5, 16)).astype(np.float32)
        passage = rng.normal(size=(15, 16)).astype(np.float32)
        kept = slice(0, 8) if i % 2 else slice(8, 16)
        passage[:5, kept] = claim[:, kept]
        pairs.append((claim, passage, bool(i % 2)))
    return pairs


def test_the_fitted_projection_separates_evidence_that_raw_maxsim_cannot():
    torch = pytest.importorskip("torch", reason="refitting the projection needs the fit extra: pip install -e '.[fit]'")
    from sklearn.metrics import roc_auc_score

    from benchmarks.fit_evidence_projection import fit_projection

    def auroc(pairs, projection):
        def normed(v):
            moved = v @ projection
            return moved / np.linalg.norm(moved, axis=1, keepdims=True)

        scores = [(normed(c) @ normed(p).T).max(axis=1).clip(0).mean() for c, p, _ in pairs]
        return roc_auc_score([label for *_, label in pairs], scores)

    held_out = synthetic_pairs(200, seed=1)
    assert auroc(held_out, np.eye(16)) < 0.7
    options = {"l2": 0.01, "learning_rate": 1e-2}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 16 × 16 products: threads only contend for the cores
    try:
        projection = fit_projection(synthetic_pairs(256, seed=0), epochs=20, **options)
        assert projection.shape == (16, 16) and projection.dtype == np.float32
        assert auroc(held_out, projection) > 0.9
        reproduced = [fit_projection(synthetic_pairs(256, seed=0), epochs=2, **options) for _ in range(2)]
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(*reproduced)  # reproducible


def test_the_shipped_evidence_projection_keeps_an_identical_claim_fully_supported():
    projection = dense.evidence_projection()
    assert projection.shape == (384, 384) and np.isfinite(projection).all()
    sentence = "MoE LoRA adapters outperform dense LoRA on heterogeneous multi-task mixtures."
    assert np.allclose(dense.maxsim(sentence, [sentence], projection), 1.0, atol=1e-5)
    unrelated = dense.maxsim(DROUGHT_CLAIM, [sentence], projection).mean()
    assert unrelated < dense.maxsim(sentence, [sentence], projection).mean() - 0.3


def test_the_model_exports_to_onnx_without_torch_and_matches_the_running_model(tmp_path):
    # torch and transformers made unimportable: the export must not need them (they are not installed by default)
    script = (
        "import sys; sys.modules['torch'] = sys.modules['transformers'] = None; from pathlib import Path; "
        "from tasks.ml.dense import export_model; export_model(Path(sys.argv[1]))"
    )
    root = Path(__file__).parents[1]
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "model")], check=True, cwd=root)
    import onnxruntime

    exported = onnxruntime.InferenceSession(str(tmp_path / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    running, tokenizer = dense._runtime()
    pieces = tokenizer.encode_batch([DROUGHT_CLAIM, "MoE LoRA adapters outperform dense LoRA."])
    ids = np.zeros((2, max(len(p.ids) for p in pieces)), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, piece in enumerate(pieces):
        ids[row, : len(piece.ids)], mask[row, : len(piece.ids)] = piece.ids, 1
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    real = mask.astype(bool)  # padding positions are not used
    assert np.allclose(exported.run(None, feed)[0][real], running.run(None, feed)[0][real], atol=1e-5)
