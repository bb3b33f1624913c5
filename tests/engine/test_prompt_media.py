"""Images and videos through the checkpoint's real processor, and bad attachments end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from media_files import write_mp4, write_png

from engine.errors import AttachmentError
from engine.events import Done, PromptEncoded
from engine.inputs.conversation import Attachment, Conversation, MediaOptions, PromptOptions, Turn


def _prompt(engine, turn: Turn, options: PromptOptions | None = None):
    return engine.prepare(Conversation(turns=(turn,)), engine.default_settings, options or PromptOptions())


def _image_token_count(engine, prompt) -> int:
    return int((prompt.tensors["input_ids"] == engine.processor.image_token_id).sum())


def test_image_goes_before_the_text_with_its_token_budget(tiny_engine, tmp_path: Path):
    png = write_png(tmp_path / "photo.png", size=(640, 480))
    turn = Turn("user", "What is this?", (Attachment(png, "image"),))
    small = _prompt(tiny_engine, turn, PromptOptions(media=MediaOptions(image_tokens=70)))
    large = _prompt(tiny_engine, turn, PromptOptions(media=MediaOptions(image_tokens=280)))
    assert 0 < _image_token_count(tiny_engine, small) <= 70 < _image_token_count(tiny_engine, large) <= 280
    text = large.text
    assert text.index("<|image|>") < text.index("What is this?")
    assert large.tensors["pixel_values"].shape[0] == 1 and large.num_images == 1


def test_video_becomes_timestamped_frames_at_70_tokens(tiny_engine, tmp_path: Path):
    clip = write_mp4(tmp_path / "clip.mp4", seconds=3.0, fps=10)
    png = write_png(tmp_path / "photo.png", size=(640, 480))
    turn = Turn("user", "Describe.", (Attachment(png, "image"), Attachment(clip, "video")))
    prompt = _prompt(tiny_engine, turn, PromptOptions(media=MediaOptions(video_fps=1.0, video_max_frames=60)))
    assert prompt.num_frames == 3 and prompt.num_images == 1
    for stamp in ("00:00", "00:01", "00:02"):
        assert stamp in prompt.text
    per_image = prompt.tensors["pixel_values"].shape[0]
    assert per_image == 4
    # Frames are at most 70 tokens each, the photo uses the larger default budget.
    total = _image_token_count(tiny_engine, prompt)
    assert total <= 280 + 3 * 70 and total > 3 * 70


def test_frame_cap_is_respected(tiny_engine, tmp_path: Path):
    clip = write_mp4(tmp_path / "clip.mp4", seconds=3.0, fps=10)
    turn = Turn("user", "Describe.", (Attachment(clip, "video"),))
    prompt = _prompt(tiny_engine, turn, PromptOptions(media=MediaOptions(video_fps=2.0, video_max_frames=4)))
    assert prompt.num_frames == 4


def test_generate_with_an_image_runs_the_vision_tower(tiny_engine, tmp_path: Path):
    png = write_png(tmp_path / "photo.png")
    conversation = Conversation(turns=(Turn("user", "Hi", (Attachment(png, "image"),)),))
    settings = tiny_engine.default_settings.with_changes(max_new_tokens=256, max_denoising_steps=2, seed=0)
    calls = []
    handle = tiny_engine.model.model.encoder.vision_tower.register_forward_hook(lambda *a: calls.append(1))
    try:
        events = list(tiny_engine.generate(conversation, settings))
    finally:
        handle.remove()
    assert calls and isinstance(events[-1], Done)
    assert next(e for e in events if isinstance(e, PromptEncoded)).prompt_tokens > 60


def test_thinking_puts_the_think_token_in_the_system_turn(tiny_engine):
    prompt = _prompt(tiny_engine, Turn("user", "Hi"), PromptOptions(enable_thinking=True))
    assert prompt.text.startswith("<bos><|turn>system\n<|think|>")
    assert "<|think|>" not in _prompt(tiny_engine, Turn("user", "Hi")).text


def test_history_carries_answers_only(tiny_engine):
    turns = (
        Turn("user", "Q1"),
        Turn("assistant", "<|channel>thought\nsecret reasoning<channel|>Visible answer"),
        Turn("user", "Q2"),
    )
    text = tiny_engine.prepare(Conversation(turns=turns), tiny_engine.default_settings, PromptOptions()).text
    assert "Visible answer" in text and "secret reasoning" not in text and "<|channel>" not in text


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.png", b""),
        ("garbage.png", b"this is not an image at all" * 10),
        ("garbage.mp4", b"\x00\x01 not a video" * 50),
    ],
)
def test_bad_attachments_fail_cleanly_before_generation(tiny_engine, tmp_path: Path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    kind = "video" if name.endswith(".mp4") else "image"
    conversation = Conversation(turns=(Turn("user", "Hi", (Attachment(path, kind),)),))
    with pytest.raises(AttachmentError) as info:
        list(tiny_engine.generate(conversation))
    assert name in str(info.value)


def test_missing_attachment(tiny_engine, tmp_path: Path):
    conversation = Conversation(turns=(Turn("user", "Hi", (Attachment(tmp_path / "gone.jpg", "image"),)),))
    with pytest.raises(AttachmentError, match=r"gone\.jpg"):
        list(tiny_engine.generate(conversation))
    assert torch.is_grad_enabled()  # nothing left in a no-grad state
