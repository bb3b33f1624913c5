"""ServerEngine against a stand-in for vLLM's OpenAI server on 127.0.0.1 (tests/vllm_server.py).

What a real vLLM does is taken from its DiffusionGemma code and recipe (CONTEXT.md §7); these
tests check our side of that protocol and every failure a user can meet, not vLLM itself.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import httpx2 as httpx
import pytest
from PIL import Image

from engine.cancel import CancelToken
from engine.errors import EngineError
from engine.events import Canvas, Done, Step
from engine.generation.plan import ReplyPlan
from engine.inputs.conversation import Attachment, Conversation, MediaOptions, PromptOptions, Turn
from engine.inputs.documents import document_prompt_text, load_document
from engine.interface import ChatEngine
from engine.server.client import ServerAddress
from engine.server.engine import ServerEngine
from engine.server.errors import ServerError, http_status_error
from engine.server.request import PIXELS_PER_TOKEN
from engine.settings import GenerationSettings
from tests.media_files import write_mp4, write_png
from tests.vllm_server import MODEL, Behaviour, closed_port, fake_vllm

QUICK = httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=2.0)


def ask(text: str = "Hi") -> Conversation:
    return Conversation(turns=(Turn("user", text),))


def connect(url: str, model: str = MODEL, key: str = "", timeouts: httpx.Timeout = QUICK) -> ServerEngine:
    return ServerEngine.connect(ServerAddress(url, model, key, timeouts))


def test_a_reply_is_one_canvas_per_chunk_then_done_with_the_usage():
    with fake_vllm() as server:
        engine = connect(server.url)
        events = list(engine.generate(ask(), GenerationSettings(max_new_tokens=512, seed=7)))
    assert [type(e) for e in events] == [Canvas, Canvas, Done]
    assert not any(isinstance(e, Step) for e in events)
    assert [(e.block, e.text) for e in events[:2]] == [(0, "Hello from "), (1, "the server.")]
    assert [e.ended for e in events[:2]] == [False, True]
    done = events[-1]
    assert (done.text, done.answer, done.thought) == ("Hello from the server.", "Hello from the server.", "")
    assert (done.incomplete, done.stop_reason) == (False, "eos")
    stats = done.stats
    assert (stats.prompt_tokens, stats.generated_tokens, stats.canvases) == (17, 300, 2)
    assert 0 < stats.time_to_first_draft <= stats.seconds
    assert stats.tokens_per_second == pytest.approx(300 / stats.seconds)
    (request,) = server.requests
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert (request["model"], request["max_tokens"], request["seed"]) == (MODEL, 512, 7)
    assert request["chat_template_kwargs"] == {"enable_thinking": False}
    assert request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]


def test_the_engine_is_a_chat_engine_that_says_where_the_model_runs():
    with fake_vllm() as server:
        engine = connect(server.url + "/v1/")
    assert isinstance(engine, ChatEngine)
    assert engine.info.device == f"server: {server.url}"
    assert engine.info.where == f"server: {server.url} · {MODEL}"
    assert engine.info.context_length == 131072
    assert engine.vram_in_use() is None
    with pytest.raises(EngineError, match="no refinement steps to replay: a model on a server sends whole"):
        engine.decode_steps([])
    with pytest.raises(EngineError, match="needs the tokenizer of the model on this computer"):
        engine.decode_steps([object()])


def test_thinking_is_asked_for_and_split_from_the_answer():
    behaviour = Behaviour(canvases=["<|channel>thought\nLet me think.<channel|>", "The answer.<turn|>"])
    with fake_vllm(behaviour) as server:
        done = list(connect(server.url).generate(ask(), options=PromptOptions(enable_thinking=True)))[-1]
    assert server.requests[0]["chat_template_kwargs"] == {"enable_thinking": True}
    assert server.requests[0]["skip_special_tokens"] is False  # the thinking markers must survive
    assert (done.thought, done.answer) == ("Let me think.", "The answer.")


def test_a_server_with_a_reasoning_parser_still_gives_thought_and_answer():
    behaviour = Behaviour(reasoning=["Hmm, ", "two."], canvases=["Two."])
    with fake_vllm(behaviour) as server:
        events = list(connect(server.url).generate(ask(), options=PromptOptions(enable_thinking=True)))
    assert [type(e) for e in events] == [Canvas, Canvas, Canvas, Done]
    assert (events[-1].thought, events[-1].answer) == ("Hmm, two.", "Two.")


def test_history_system_images_video_and_documents_are_sent_as_the_local_prompt_builds_them(tmp_path):
    photo = write_png(tmp_path / "photo.png", size=(2000, 1500))
    clip = write_mp4(tmp_path / "clip.mp4", seconds=2.0)
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\nbuy milk\n", encoding="utf-8")
    conversation = Conversation(
        system="Be brief.",
        turns=(
            Turn("user", "Earlier"),
            Turn("assistant", "<|channel>thought\nsecret<channel|>Visible answer"),
            Turn(
                "user",
                "Look",
                (
                    Attachment(photo, "image"),
                    Attachment(clip, "video"),
                    Attachment(notes, "document", name="notes.md"),
                ),
            ),
        ),
    )
    options = PromptOptions(media=MediaOptions(image_tokens=70, video_fps=1.0, video_max_frames=2))
    with fake_vllm() as server:
        list(connect(server.url).generate(conversation, options=options))
    system, earlier, answer, last = server.requests[0]["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert earlier["content"] == [{"type": "text", "text": "Earlier"}]
    assert answer == {"role": "assistant", "content": "Visible answer"}  # history: the final answer only
    kinds = [p["type"] if p["type"] != "text" else p["text"] for p in last["content"]]
    assert kinds[:5] == ["image_url", "00:00 ", "image_url", "00:01 ", "image_url"]
    document = load_document(notes)
    assert last["content"][5]["text"] == document_prompt_text(document)
    assert last["content"][6] == {"type": "text", "text": "Look"}
    url = last["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    width, height = image.size
    assert width * height <= 70 * PIXELS_PER_TOKEN  # downscaled to what a 70-token budget uses
    assert width / height == pytest.approx(2000 / 1500, rel=0.02)


def test_stop_closes_the_stream_at_once_and_keeps_the_reply_so_far():
    behaviour = Behaviour(canvases=["First canvas. ", "never sent"], silent_after=1)
    cancel = CancelToken()
    with fake_vllm(behaviour) as server:
        events = connect(server.url).generate(ask(), cancel=cancel)
        first = next(events)
        timer = threading.Timer(0.2, cancel.cancel)
        timer.start()
        started = time.monotonic()
        done = next(events)
        waited = time.monotonic() - started
        assert server.disconnected.wait(2), "the connection stayed open"  # read timeout: 5 s
        assert list(events) == []
    assert isinstance(first, Canvas) and first.text == "First canvas. "
    assert isinstance(done, Done)
    assert (done.incomplete, done.stop_reason, done.text) == (True, "cancelled", "First canvas. ")
    assert waited < 2.0  # generous: the silent server would otherwise hold it for LIFETIME_S


def test_a_stop_before_anything_arrived_ends_the_reply_too():
    cancel = CancelToken()
    cancel.cancel()
    with fake_vllm(Behaviour(silent_before_headers=True)) as server:
        events = list(connect(server.url).generate(ask(), cancel=cancel))
    assert [type(e) for e in events] == [Done]
    assert (events[0].incomplete, events[0].stop_reason, events[0].text) == (True, "cancelled", "")


def test_a_server_that_drops_mid_reply_keeps_what_arrived_and_says_so():
    with fake_vllm(Behaviour(canvases=["Kept. ", "lost"], close_after=1)) as server:
        events = list(connect(server.url).generate(ask()))
    assert [type(e) for e in events] == [Canvas, Done]
    assert (events[-1].incomplete, events[-1].stop_reason, events[-1].text) == (
        True,
        "disconnected",
        "Kept. ",
    )


def test_an_error_in_the_stream_keeps_the_text_so_far_or_is_raised_before_any():
    with fake_vllm(Behaviour(canvases=["Kept. ", "lost"], error_after=1)) as server:
        done = list(connect(server.url).generate(ask()))[-1]
        assert (done.incomplete, done.stop_reason, done.text) == (True, "error", "Kept. ")
        server.behaviour.error_after = 0
        with pytest.raises(ServerError, match="stopped the reply with an error: engine dead"):
            list(connect(server.url).generate(ask()))


def test_a_refused_request_quotes_the_server_cut_short():
    body = json.dumps({"error": {"message": "Structured outputs are not supported\x1b[31m" + "x" * 1000}})
    error = http_status_error(400, body.encode(), "http://h:8000", MODEL)
    assert "refused the request (HTTP 400)" in str(error) and "Structured outputs are not supported" in str(
        error
    )
    assert "\x1b" not in str(error) and len(str(error)) < 600


def test_a_malformed_line_is_skipped_and_a_huge_chunk_arrives_whole():
    huge = "x" * 2_000_000
    with fake_vllm(Behaviour(canvases=["a", huge], malformed_line_after=1)) as server:
        done = list(connect(server.url).generate(ask()))[-1]
    assert done.text == "a" + huge and not done.incomplete


def test_a_reply_cut_at_max_tokens_says_length():
    with fake_vllm(Behaviour(finish_reason="length")) as server:
        done = list(connect(server.url).generate(ask()))[-1]
    assert (done.incomplete, done.stop_reason) == (True, "length")


def test_a_wrong_or_missing_key_is_named():
    with fake_vllm(Behaviour(api_key="sesame")) as server:
        with pytest.raises(ServerError, match=r"refused the API key \(HTTP 401\)") as caught:
            connect(server.url, key="wrong")
        assert "sesame" not in str(caught.value) and "wrong" not in str(caught.value)
        engine = connect(server.url, key="sesame")
        list(engine.generate(ask()))
    assert server.headers[-1]["Authorization"] == "Bearer sesame"


def test_a_model_the_server_does_not_serve_is_named_with_the_ones_it_does():
    with fake_vllm() as server:
        with pytest.raises(ServerError, match="has no model 'gemma-9'.*Pick one it serves: " + MODEL):
            connect(server.url, model="gemma-9")
        engine = connect(server.url)
        server.behaviour.models = [{"id": "other"}]  # unloaded since: the chat request answers 404
        with pytest.raises(ServerError, match=r"has no model .*\(HTTP 404\).*does not exist"):
            list(engine.generate(ask()))


def test_a_model_that_is_not_diffusiongemma_is_refused():
    behaviour = Behaviour(models=[{"id": "llama", "root": "meta-llama/Llama-3.1-8B-Instruct"}])
    with (
        fake_vllm(behaviour) as server,
        pytest.raises(ServerError, match=r"'llama' .* is not a DiffusionGemma"),
    ):
        connect(server.url, model="llama")


def test_a_served_name_is_recognised_by_its_checkpoint():
    behaviour = Behaviour(models=[{"id": "chat", "root": "google/diffusiongemma-26B-A4B-it-FP8"}])
    with fake_vllm(behaviour) as server:
        assert connect(server.url, model="chat").info.name == "chat"


def test_an_unreachable_server_is_named():
    with pytest.raises(ServerError, match=r"cannot be reached.*Check the address and port"):
        connect(f"http://127.0.0.1:{closed_port()}")


def test_a_plain_http_server_asked_for_https_is_a_tls_error():
    with fake_vllm() as server, pytest.raises(ServerError, match=r"secure connection .* failed"):
        connect(server.url.replace("http://", "https://"))


def test_a_silent_server_times_out_with_a_message():
    quick = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)
    with fake_vllm(Behaviour(silent_before_headers=True)) as server:
        engine = ServerEngine(ServerAddress(server.url, MODEL, "", quick), served=_served())
        with pytest.raises(ServerError, match=r"sent nothing for 0.3 s"):
            list(engine.generate(ask()))


def test_a_request_over_the_size_limit_is_a_clear_error(tmp_path):
    photo = write_png(tmp_path / "big.png", size=(1200, 900))
    conversation = Conversation(turns=(Turn("user", "Look", (Attachment(photo, "image"),)),))
    with fake_vllm(Behaviour(max_body_bytes=2000)) as server:
        engine = connect(server.url)
        with pytest.raises(ServerError, match=r"too large .*\(HTTP 413\).*Attach fewer or smaller files"):
            list(engine.generate(conversation))


def test_a_reply_cut_short_is_continued_from_its_text_as_an_open_assistant_message():
    with fake_vllm(Behaviour(canvases=[" and then", " the end."])) as server:
        engine = connect(server.url)
        plan = ReplyPlan.continuing([1, 2, 3], "Once upon a time")
        events = list(engine.generate(ask("Tell a story"), GenerationSettings(max_new_tokens=300), plan=plan))
    (request,) = server.requests
    assert request["messages"][-1] == {"role": "assistant", "content": "Once upon a time"}
    assert request["continue_final_message"] is True and request["add_generation_prompt"] is False
    assert [e.text for e in events if isinstance(e, Canvas)] == [" and then", " the end."]
    assert events[-1].text == " and then the end." and not events[-1].incomplete


def test_a_reply_cut_inside_its_thought_goes_on_thinking():
    behaviour = Behaviour(reasoning=[" more thought"], canvases=["The answer."])
    with fake_vllm(behaviour) as server:
        engine = connect(server.url)
        plan = ReplyPlan.continuing([], "<|channel>thought\nFirst idea.")
        done = list(engine.generate(ask(), plan=plan))[-1]
    assert done.text == " more thought<channel|>The answer."  # no second opening marker


def test_what_a_server_cannot_do_is_refused_with_what_to_do_instead():
    with fake_vllm() as server:
        engine = connect(server.url)
        with pytest.raises(EngineError, match="cannot rewrite a selected part of a reply: it writes fresh"):
            list(engine.generate(ask(), plan=ReplyPlan.rewriting([1, 2, 3], "x")))
        with pytest.raises(EngineError, match="cannot continue a reply from its tokens alone"):
            list(engine.generate(ask(), plan=ReplyPlan.continuing([1, 2, 3])))
        assert server.requests == []


def test_an_address_without_a_scheme_is_refused_with_the_form_to_use():
    with pytest.raises(ServerError, match=r"not a server address.*http://host:8000"):
        connect("localhost:8000")


def _served():
    from engine.server.client import ServedModel

    return ServedModel(MODEL, MODEL)
