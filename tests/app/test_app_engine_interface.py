"""The engine the window talks to is an interface: the real Engine and the tests' double both fit it."""

from __future__ import annotations

import inspect

import pytest
from app_fakes import FakeEngine

from engine.engine import Engine
from engine.interface import ChatEngine
from engine.server.engine import ServerEngine

METHODS = sorted(
    name for name, value in vars(ChatEngine).items() if callable(value) and not name.startswith("_")
)


def mismatches(implementation: type) -> list[str]:
    """How ``implementation``'s members differ from ChatEngine's (names, kinds and defaults of parameters)."""
    problems = [
        f"no attribute {name}" for name in ChatEngine.__annotations__ if not _declares(implementation, name)
    ]
    for name in METHODS:
        method = getattr(implementation, name, None)
        if method is None:
            problems.append(f"no method {name}")
            continue
        wanted = inspect.signature(getattr(ChatEngine, name)).parameters
        have = inspect.signature(method).parameters
        for param in wanted.values():
            got = have.get(param.name)
            if got is None or got.kind != param.kind or got.default != param.default:
                problems.append(f"{name}({param.name}): {got} instead of {param}")
        for extra in set(have) - set(wanted):
            if have[extra].default is inspect.Parameter.empty:
                problems.append(f"{name}({extra}) is required, and callers do not pass it")
    return problems


def _declares(cls: type, name: str) -> bool:
    return name in getattr(cls, "__annotations__", {}) or name in vars(cls)


def test_the_protocol_names_what_the_window_and_the_cli_use():
    assert METHODS == ["close", "decode_steps", "forget_prompt_cache", "generate", "vram_in_use"]
    assert set(ChatEngine.__annotations__) == {"info", "default_settings"}


@pytest.mark.parametrize("implementation", [Engine, FakeEngine, ServerEngine])
def test_each_engine_has_the_members_of_the_interface_with_the_same_parameters(implementation):
    assert mismatches(implementation) == []


def test_a_fake_engine_instance_is_a_chat_engine_and_a_partial_one_is_not():
    assert isinstance(FakeEngine(), ChatEngine)

    class NoClose:
        info = None
        default_settings = None

        def generate(self, conversation, settings=None, options=None, cancel=None, *, plan=None): ...

    assert not isinstance(NoClose(), ChatEngine)
    assert "no method close" in mismatches(NoClose)
    assert any(problem.startswith("generate(plan)") for problem in mismatches(NoClose))
