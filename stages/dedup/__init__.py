"""Dedup: near-duplicate clips by perceptual-hash distance, indexed by multi-index hashing."""

from physflow.stages.dedup.config import DedupConfig
from physflow.stages.dedup.index import HashIndex
from physflow.stages.dedup.stage import REFERENCE, DedupInput, DedupStage, ReferenceIndex, parse_phash, run

__all__ = ["REFERENCE", "DedupConfig", "DedupInput", "DedupStage", "HashIndex", "ReferenceIndex", "parse_phash", "run"]
