"""Inference API: async FastAPI over a micro-batched ONNX Runtime (or PyTorch) model runner."""
