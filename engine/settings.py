"""Generation settings: the checkpoint's defaults, validated, with our own max_new_tokens.

The checkpoint's ``generation_config.json`` sets ``max_new_tokens`` to 256,
which is exactly one canvas; a chat reply needs more, so our default is 2048
unless the caller says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from engine.errors import SettingsError

DEFAULT_MAX_NEW_TOKENS = 2048

# Prompt tokens per encoder call during prefill: its transient memory grows with the chunk
# (engine.model.planner), and a cancel is honoured between chunks. 2,048 keeps a GPU busy.
PREFILL_CHUNK = 2048


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    max_denoising_steps: int = 48
    entropy_bound: float = 0.1
    t_max: float = 0.8
    t_min: float = 0.4
    stability_threshold: int = 1
    confidence_threshold: float = 0.005
    seed: int | None = None  # None: a fresh random seed per reply

    def validate(self) -> GenerationSettings:
        """Raise :class:`SettingsError` naming the first bad value and its valid range."""
        checks: list[tuple[bool, str, str]] = [
            (self.max_new_tokens >= 1, "max_new_tokens", "must be at least 1"),
            (1 <= self.max_denoising_steps <= 1024, "max_denoising_steps", "must be between 1 and 1024"),
            (self.entropy_bound > 0, "entropy_bound", "must be greater than 0"),
            (self.t_min >= 0, "t_min", "must be 0 or more"),
            (self.t_max > self.t_min, "t_max", "must be greater than t_min"),
            (self.stability_threshold >= 0, "stability_threshold", "must be 0 or more"),
            (self.confidence_threshold > 0, "confidence_threshold", "must be greater than 0"),
            (self.seed is None or 0 <= self.seed < 2**63, "seed", "must be between 0 and 2^63-1"),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise SettingsError(
                    f"Setting {name}={getattr(self, name)!r} {rule}",
                    fix="Change it in Settings, or use 'Reset to the model's defaults'",
                )
        return self

    def with_changes(self, **changes: Any) -> GenerationSettings:
        return replace(self, **changes).validate()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}).validate()

    @classmethod
    def from_generation_config(
        cls, gen_config: Any, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    ) -> GenerationSettings:
        """Read a ``DiffusionGemmaGenerationConfig`` (or anything with its attributes)."""

        def pick(name: str, default: Any) -> Any:
            value = getattr(gen_config, name, None)
            return default if value is None else value

        base = cls()
        sampler = getattr(gen_config, "sampler_config", None)
        entropy_bound = getattr(sampler, "entropy_bound", None)
        if isinstance(sampler, dict):
            entropy_bound = sampler.get("entropy_bound")
        return cls(
            max_new_tokens=max_new_tokens,
            max_denoising_steps=int(pick("max_denoising_steps", base.max_denoising_steps)),
            entropy_bound=float(entropy_bound if entropy_bound is not None else base.entropy_bound),
            t_max=float(pick("t_max", base.t_max)),
            t_min=float(pick("t_min", base.t_min)),
            stability_threshold=int(pick("stability_threshold", base.stability_threshold)),
            confidence_threshold=float(pick("confidence_threshold", base.confidence_threshold)),
        ).validate()
