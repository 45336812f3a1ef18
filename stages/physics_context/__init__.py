"""Physics context: DiffPhy-style physics reasoning and WISA phenomenon labels for captions and prompts."""

from physflow.stages.physics_context.config import PhysicsContextConfig
from physflow.stages.physics_context.reasoner import (
    InvalidAnswerError,
    PhysicsReasoner,
    ServiceError,
    build_reasoner,
    parse_answer,
)
from physflow.stages.physics_context.schema import CATEGORIES, DOMAINS, PhysicsContext, Quantities
from physflow.stages.physics_context.stage import PhysicsContextStage, PhysicsItem, run

__all__ = [
    "CATEGORIES",
    "DOMAINS",
    "InvalidAnswerError",
    "PhysicsContext",
    "PhysicsContextConfig",
    "PhysicsContextStage",
    "PhysicsItem",
    "PhysicsReasoner",
    "Quantities",
    "ServiceError",
    "build_reasoner",
    "parse_answer",
    "run",
]
