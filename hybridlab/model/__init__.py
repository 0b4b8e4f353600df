from hybridlab.model.hybrid_lm import Block, HybridLM, ModelCache, build_model

__all__ = ["Block", "HybridLM", "ModelCache", "build_model"]
