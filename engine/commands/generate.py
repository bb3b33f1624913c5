"""``python -m engine generate``: answer one prompt, showing the canvas refine in the terminal.

Without ``--jsonl`` the current canvas is redrawn in place at every step (a
live view of the diffusion), then the answer is printed.  With ``--jsonl`` every
event is one JSON object per line, for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from engine.cancel import CancelToken
from engine.errors import EngineError
from engine.events import Canvas, Done, LoadProgress, PromptEncoded, PromptProgress, Step
from engine.generation.gaps import parse_draft
from engine.generation.plan import ReplyPlan
from engine.inputs.conversation import Attachment, Conversation, MediaOptions, PromptOptions, Turn
from engine.interface import ChatEngine
from engine.model.loader import DEFAULT_MODEL


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="answer a prompt, streaming every denoising step")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="model folder, Hub repo id, or 'demo'; with --server: the served model's name",
    )
    p.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="run on a vLLM (OpenAI-compatible) server, e.g. http://host:8000: whole canvases, no steps",
    )
    p.add_argument(
        "--api-key-env",
        default=None,
        metavar="VAR",
        help="with --server: the environment variable that holds its API key (keys stay off command lines)",
    )
    _add_input_arguments(p)
    _add_generation_arguments(p)
    p.add_argument("--jsonl", action="store_true", help="print one JSON event per line")
    p.set_defaults(func=run)


def _add_input_arguments(p: argparse.ArgumentParser) -> None:
    """What the model is asked: the message, its attachments, and how media become tokens."""
    p.add_argument("--prompt", default=None, help="the user message (with --fill: instructions)")
    p.add_argument("--system", default="", help="system prompt")
    p.add_argument(
        "--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)"
    )
    p.add_argument("--video", action="append", default=[], metavar="PATH", help="attach a video (repeatable)")
    p.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="attach a text file or PDF, read into the message (repeatable)",
    )
    p.add_argument("--thinking", action="store_true", help="let the model think before answering")
    p.add_argument("--image-tokens", type=int, default=280, choices=(70, 140, 280, 560, 1120))
    p.add_argument("--video-fps", type=float, default=1.0)
    p.add_argument("--video-max-frames", type=int, default=60)


def _add_generation_arguments(p: argparse.ArgumentParser) -> None:
    """How the reply is written: its length, seed, device, threads and mode (revise, fill)."""
    p.add_argument("--max-new-tokens", type=int, default=None, help="reply length cap (whole canvases)")
    p.add_argument("--steps", type=int, default=None, help="max denoising steps per canvas")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: fresh)")
    p.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if available)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for torch (default: the cores less one, at most 8); part of what --seed reproduces",
    )
    p.add_argument("--download", action="store_true", help="download the model if it is not cached")
    p.add_argument(
        "--quantize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="4-bit weights (default: on CUDA only); a folder from 'quantize --out' is always 4-bit",
    )
    p.add_argument(
        "--start-from",
        type=Path,
        default=None,
        metavar="FILE",
        help="a text (UTF-8 file) the reply's canvases start from instead of noise: revise it in place",
    )
    p.add_argument(
        "--fill",
        type=Path,
        default=None,
        metavar="FILE",
        help="a draft (UTF-8 file) with gaps [...] (about 24 tokens) or [...N]: keep its text, fill the gaps",
    )


def load(args: argparse.Namespace, progress: Callable[[LoadProgress], None] | None) -> ChatEngine:
    """The engine ``--model`` names: on ``--server``, or loaded in this process."""
    if args.server:
        return _connect(args)
    from engine.engine import Engine

    return Engine.load(
        args.model,
        device=args.device,
        allow_download=args.download,
        quantize=args.quantize,
        progress=progress,
        threads=args.threads,
    )


def _connect(args: argparse.Namespace) -> ChatEngine:
    """The served model, checked (it exists and is DiffusionGemma) before the prompt is sent."""
    from engine.server.client import ServerAddress
    from engine.server.engine import ServerEngine

    key = ""
    if args.api_key_env:
        key = os.environ.get(args.api_key_env, "")
        if not key:
            raise EngineError(
                f"The environment variable {args.api_key_env} is not set or empty",
                fix=f"Set it to the server's API key (export {args.api_key_env}=…), or drop --api-key-env",
            )
    return ServerEngine.connect(ServerAddress(args.server, args.model, key))


def run(args: argparse.Namespace) -> int:
    plan = reply_plan(args)
    attachments = tuple(
        [Attachment(Path(p), "image") for p in args.image]
        + [Attachment(Path(p), "video") for p in args.video]
        + [Attachment(Path(p), "document") for p in args.file]
    )
    turn = Turn("user", user_message(args, plan), attachments)
    conversation = Conversation(turns=(turn,), system=args.system)
    options = PromptOptions(
        enable_thinking=args.thinking,
        media=MediaOptions(
            image_tokens=args.image_tokens, video_fps=args.video_fps, video_max_frames=args.video_max_frames
        ),
    )
    engine = load(args, None if args.jsonl else _print_progress)
    changes = {
        k: v
        for k, v in {
            "max_new_tokens": args.max_new_tokens,
            "max_denoising_steps": args.steps,
            "seed": args.seed,
        }.items()
        if v is not None
    }
    settings = engine.default_settings.with_changes(**changes)
    cancel = CancelToken()
    view = JsonlView() if args.jsonl else TerminalView(sys.stdout)
    try:
        events = engine.generate(conversation, settings, options, cancel, plan=plan)
        for event in events:
            view.show(event)
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    return 0


def reply_plan(args: argparse.Namespace) -> ReplyPlan:
    """Fill (``--fill``), revise (``--start-from``) or a fresh reply; a draft without gaps is refused here."""
    if args.fill is not None and args.start_from is not None:
        raise EngineError("--fill and --start-from cannot be used together", fix="Give one of them")
    if args.fill is not None:
        draft = read_text(args.fill)
        parse_draft(draft)  # no gap, or a gap of 0 tokens: one error line before the model loads
        return ReplyPlan.filling(draft)
    if args.prompt is None:
        raise EngineError("There is no message to answer", fix="Give --prompt TEXT (or --fill FILE)")
    return ReplyPlan.revising(read_text(args.start_from) if args.start_from else "")


def user_message(args: argparse.Namespace, plan: ReplyPlan) -> str:
    """The user turn: the prompt, or for a fill the draft, after the instructions if any.

    The model reads the draft in the prompt too, so it knows the whole text it fills in.
    """
    if plan.kind != "fill":
        return args.prompt
    return f"{args.prompt}\n\n{plan.text}" if args.prompt else plan.text


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EngineError(
            f"{path} could not be read ({type(error).__name__})", fix="Give a UTF-8 text file", path=path
        ) from None


def _print_progress(event: LoadProgress) -> None:
    print(f"[{event.done}/{event.total}] {event.message}", file=sys.stderr)


class JsonlView:
    """One JSON object per event; PromptEncoded is internal and not part of the format.

    ``prompt_progress`` lines come first when a long prompt is read in several chunks.
    """

    def show(self, event: object) -> None:
        if isinstance(event, PromptProgress | Step | Canvas | Done):
            sys.stdout.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()


class TerminalView:
    """Redraws the live canvas in place on a terminal; plain progress lines elsewhere."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.committed = ""
        self.drawn_lines = 0

    def _clear(self) -> None:
        if self.drawn_lines:
            self.stream.write(f"\x1b[{self.drawn_lines}F\x1b[J")
            self.drawn_lines = 0

    def _draw(self, title: str, text: str) -> None:
        """Redraw the live view: a header line and the last 20 lines of the reply so far."""
        from engine.inputs.thinking import split_thinking

        width = shutil.get_terminal_size().columns
        parts = split_thinking(text, final=False)
        body = parts.answer or parts.thought
        lines = [(title + "─" * 20)[:width], *_wrap(body, width)[-20:]]
        self._clear()
        self.stream.write("\n".join(lines) + "\n")
        self.drawn_lines = len(lines)
        self.stream.flush()

    def show(self, event: object) -> None:
        if isinstance(event, PromptProgress):
            print(
                f"prompt: {event.tokens_done:,}/{event.tokens_total:,} tokens read, "
                f"about {event.seconds_left:.0f} s left",
                file=sys.stderr,
            )
        elif isinstance(event, PromptEncoded):
            print(f"prompt: {event.prompt_tokens} tokens encoded in {event.seconds:.2f} s", file=sys.stderr)
        elif isinstance(event, Step) and self.live:
            self._draw(
                f"── block {event.block + 1} · step {event.step}/{event.max_steps} ",
                self.committed + event.text,
            )
        elif isinstance(event, Canvas):
            self.committed += event.text
            if not self.live:
                steps = f"{event.steps} steps" if event.steps else "received whole (from a server)"
                print(f"block {event.block + 1}: {steps}", file=sys.stderr)
            elif not event.steps:  # a server's canvas: no Step drew it, so draw the reply so far
                self._draw(f"── canvas {event.block + 1} (whole, from the server) ", self.committed)
        elif isinstance(event, Done):
            self._clear()
            if event.thought:
                self.stream.write("Thought:\n" + event.thought.strip() + "\n\nAnswer:\n")
            answer = event.answer if event.gaps else event.answer.strip()  # a filled draft: as written
            self.stream.write(answer + "\n")
            s = event.stats
            note = " (stopped early)" if event.incomplete else ""
            forwards = (
                f"{s.forwards} forwards ({s.tokens_per_forward:.2f} tokens/forward), " if s.forwards else ""
            )
            print(
                f"{s.generated_tokens} tokens in {s.canvases} canvases, {forwards}{s.seconds:.2f} s, "
                f"{s.tokens_per_second:.1f} tokens/s{note}",
                file=sys.stderr,
            )


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for line in text.splitlines() or [""]:
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
        out.append(line)
    return out
