"""Corpus vectors keyed by paper: one store per embedder that every corpus shares, and the file retrieval maps.

A paper's key is a digest of its id and its text, so a corpus with papers added or removed reuses every vector it
already has, and a paper whose abstract changed is embedded again. A store is a directory of shards (`.npz`: keys
and float16 vectors), each written whole by one rename; `assemble` writes a corpus's vectors in its index's row order
(`tasks.ml.dense.load_dense` maps that file for the dense search channel).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from tasks.io.atomic import staged_file, write_atomic
from tasks.ml.dense import DENSE_MODEL, MAX_TOKENS, dense_dir, encode
from tasks.ml.embedders import TextKind

STORE_FORMAT = 1


class MiniLmEmbedder(BaseModel):
    """all-MiniLM-L6-v2 by ONNX Runtime behind the Embedder interface: the vectors the dense search channel uses."""

    name: str = DENSE_MODEL
    max_tokens: int = MAX_TOKENS

    def embed(self, texts: list[str], kind: TextKind = "passage") -> np.ndarray:
        """Unit-length float16 vectors of `texts` (the model embeds queries and passages alike)."""
        return encode(texts)


def paper_keys(ids: list[str], texts: list[str]) -> np.ndarray:
    """Each paper's store key: 16 bytes of a digest of its id and its text."""
    digests = [hashlib.blake2b(f"{i}\0{t}".encode(), digest_size=16).digest() for i, t in zip(ids, texts)]
    return np.array(digests, dtype="S16")


@dataclass
class Catalog:
    """Where each stored key's vector is: the shard files, and per key (sorted) its shard and row there."""

    shards: list[Path]
    keys: np.ndarray
    shard: np.ndarray
    row: np.ndarray

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's position in the catalog, or -1 when it is not stored."""
        at = np.searchsorted(self.keys, keys).clip(max=max(len(self.keys) - 1, 0))
        found = len(self.keys) > 0 and self.keys[at] == keys
        return np.where(found, at, -1)


class VectorStore:
    """The vectors one embedder gave papers, by `paper_keys`, in shards that every corpus shares."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of(cls, cache_dir: Path, embedder: BaseModel) -> VectorStore:
        """The store of this embedder (its fields: model, endpoint, dimension, …) under the cache directory."""
        fields = json.dumps(embedder.model_dump(mode="json"), sort_keys=True)
        name = f"{embedder.name.replace('/', '--')}-{hashlib.sha256(fields.encode()).hexdigest()[:10]}"
        root = Path(cache_dir) / "vectors" / f"v{STORE_FORMAT}" / name
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "embedder.json").is_file():
            write_atomic(root / "embedder.json", fields)
        return cls(root)

    def catalog(self) -> Catalog:
        """Every stored key (from each shard's keys alone, not its vectors)."""
        shards = sorted(p for p in self.root.glob("*.npz") if not p.name.startswith("."))  # not a shard being written
        keys, shard, row = [np.empty(0, "S16")], [np.empty(0, np.int32)], [np.empty(0, np.int32)]
        for number, path in enumerate(shards):
            with np.load(path) as data:
                keys.append(data["keys"])
            shard.append(np.full(len(keys[-1]), number, np.int32))
            row.append(np.arange(len(keys[-1]), dtype=np.int32))
        all_keys = np.concatenate(keys)
        order = np.argsort(all_keys, kind="stable")
        return Catalog(shards, all_keys[order], np.concatenate(shard)[order], np.concatenate(row)[order])

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> Path:
        """Store `vectors` under `keys` as one shard, written whole or not at all; named by its keys."""
        path = self.root / f"{hashlib.sha256(keys.tobytes()).hexdigest()[:32]}.npz"
        with staged_file(path) as staging:
            np.savez(staging, keys=keys, vectors=np.asarray(vectors, dtype=np.float16))
        return path

    def assemble(self, keys: np.ndarray, target: Path) -> None:
        """Write the vectors of `keys`, in that order, as float32 `.npy` at `target` by one rename; all are stored."""
        catalog = self.catalog()
        at = catalog.find(keys)
        if (at < 0).any():
            raise LookupError(f"{int((at < 0).sum())} of {len(keys)} papers have no vector in {self.root}")
        shard_of = catalog.shard[at]
        order = np.argsort(shard_of, kind="stable")
        numbers, starts = np.unique(shard_of[order], return_index=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(target) as staging:
            out = None
            for number, rows in zip(numbers, np.split(order, starts[1:])):
                with np.load(catalog.shards[number]) as data:
                    vectors = data["vectors"]
                if out is None:  # float32: see `tasks.ml.dense.load_dense`; written piece by piece, never whole in RAM
                    shape = (len(keys), vectors.shape[1])
                    out = np.lib.format.open_memmap(staging, mode="w+", dtype=np.float32, shape=shape)
                out[rows] = vectors[catalog.row[at[rows]]]
            out.flush()
            del out


def vectors_file(index_dir: Path, embedder: BaseModel) -> Path:
    """Where a corpus's assembled vectors go: MiniLM's where the search channel maps them, others beside them."""
    if isinstance(embedder, MiniLmEmbedder):
        return dense_dir(index_dir) / "vectors.npy"
    return dense_dir(index_dir) / embedder.name.replace("/", "--") / "vectors.npy"


def legacy_vectors(index_dir: Path, papers: int) -> list[tuple[int, np.ndarray]]:
    """MiniLM vectors an earlier version kept by row of this index: (first row, vectors) of its file or its parts."""
    directory = dense_dir(index_dir)
    meta = directory / "meta.json"
    whole = directory / "vectors.npy"
    if whole.is_file() and meta.is_file() and "keys" not in json.loads(meta.read_text()):
        vectors = np.load(whole, mmap_mode="r")
        return [(0, vectors)] if vectors.shape[0] == papers else []
    parts = directory / "parts"
    found = sorted(p for p in parts.glob("*.npy") if not p.name.startswith(".")) if parts.is_dir() else []
    return [(int(p.stem), np.load(p, mmap_mode="r")) for p in found if p.stem.isdigit()]


def from_legacy(legacy: list[tuple[int, np.ndarray]], rows: np.ndarray) -> np.ndarray | None:
    """The legacy vectors of these index rows, or None unless every row has one."""
    picked = np.zeros((len(rows), 384), np.float32)
    covered = np.zeros(len(rows), bool)
    for first, vectors in legacy:
        inside = (rows >= first) & (rows < first + len(vectors))
        picked[inside] = vectors[rows[inside] - first]
        covered |= inside
    return picked if covered.all() and len(rows) else None
