"""What the engine is asked to answer: a conversation with optional attachments.

Kept free of any GUI or storage concern so the CLI, the GUI and the store all
describe a chat the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the user attached: an image, a video or a text document (a PDF too), by path.

    ``name`` is the file's name as the user knows it (a stored copy's own file
    name is its content hash); a document is introduced to the model by it.
    """

    path: Path
    kind: Literal["image", "video", "document"]
    name: str = ""

    @property
    def display_name(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True, slots=True)
class Turn:
    """One message. Assistant turns hold the final answer only (never the thought)."""

    role: Role
    text: str
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Conversation:
    """An optional system text and the turns so far; the last turn is the user's."""

    turns: tuple[Turn, ...]
    system: str = ""

    def with_turn(self, turn: Turn) -> Conversation:
        return Conversation(turns=(*self.turns, turn), system=self.system)


@dataclass(frozen=True, slots=True)
class MediaOptions:
    """How attachments become model input."""

    image_tokens: int = 280  # one of 70/140/280/560/1120
    video_fps: float = 1.0
    video_max_frames: int = 60
    video_frame_tokens: int = 70


IMAGE_TOKEN_BUDGETS: tuple[int, ...] = (70, 140, 280, 560, 1120)
MAX_VIDEO_FRAMES = 600
"""Most frames taken from one video (10 minutes at 1 fps, ~42 K tokens): a 3-hour video at a cap of
100,000 ran out of memory at 10.9 GB before the prompt was built."""


@dataclass(frozen=True, slots=True)
class PromptOptions:
    """Everything besides the conversation that shapes the prompt."""

    enable_thinking: bool = False
    media: MediaOptions = field(default_factory=MediaOptions)
    # What to do when the chat outgrows the context: "drop_oldest" leaves out its oldest
    # messages (engine.inputs.overflow), "stop" fails the reply with PromptTooLongError.
    context_overflow: str = "drop_oldest"
