"""Optical flow: per-clip flow fields (DIS or RAFT), VideoJAM flow-RGB video and spectral volume."""

from physflow.stages.optical_flow.config import OpticalFlowConfig
from physflow.stages.optical_flow.stage import FlowClip, OpticalFlowStage, run

__all__ = ["FlowClip", "OpticalFlowConfig", "OpticalFlowStage", "run"]
