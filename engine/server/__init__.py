"""A DiffusionGemma model served by vLLM (OpenAI-compatible API) as a :class:`engine.interface.ChatEngine`.

Such a server streams one chunk per committed 256-token canvas and nothing for
the denoising steps, so this backend sends ``Canvas`` events and ``Done`` only.
Plain HTTP (httpx2, already a dependency through huggingface_hub): no torch.
"""
