"""Real image and video files generated for tests (nothing binary is checked in)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image


def write_png(
    path: Path, size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (200, 40, 40)
) -> Path:
    image = Image.new("RGB", size, color)
    image.paste((20, 20, 220), (0, 0, size[0] // 2, size[1] // 2))
    image.save(path)
    return path


def write_mp4(path: Path, seconds: float = 3.0, fps: int = 10, size: tuple[int, int] = (64, 48)) -> Path:
    """An H.264 MP4 whose frame i is a flat grey level proportional to i (so frames are identifiable)."""
    frames = int(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            level = int(255 * i / max(1, frames - 1))
            array = np.full((size[1], size[0], 3), level, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
