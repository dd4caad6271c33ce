"""Runtime profiles: one documented model per inference engine (transformers, vLLM, llama.cpp)."""
