from hybridlab.model.hybrid_lm import Block, HybridLM, ModelCache, build_model
from hybridlab.model.inputs import DEFAULT_MAX_CACHE_BYTES

__all__ = ["DEFAULT_MAX_CACHE_BYTES", "Block", "HybridLM", "ModelCache", "build_model"]
