"""From an OpenAI-style request to a running answer: what both chat.py and responses.py do.

    target = resolve_model(state, "docs@vllm:openai/gpt-oss-20b")  # 404/503/400: ApiError
    turns = split_turns(messages)            # question, history, instructions (else 400)
    effort, notes = pick_effort(body.reasoning_effort, (body.reasoning or {}).get("effort"))
    started = start(state, target, turns, effort=effort, max_tokens=256)  # blocks: call in a thread
    for event in started: ...                # StreamEvents; started.answer at the end

``start`` retrieves and then waits for the model's first event before it
returns, so whatever fails before anything was streamed (a missing key, a
429, a timeout, an unknown model) is raised there and becomes an HTTP error
with the right status instead of a broken stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..answering.run import AnswerRun
from ..config import EFFORTS
from ..kb import KnowledgeBase
from ..llms.base import Message, content_text
from ..types import Answer, StreamEvent
from .errors import ApiError
from .state import ServerState

__all__ = [
    "ANSWER_ERRORS",
    "EFFORT_VALUES",
    "JSON_INT",
    "KB_NAME",
    "MODEL_PATTERN",
    "NOT_APPLIED",
    "ReasoningOptions",
    "Started",
    "Target",
    "Turns",
    "busy_error",
    "not_applied",
    "offered_tools",
    "open_kb",
    "pick_effort",
    "resolve_model",
    "split_turns",
    "start",
    "unsupported",
]

#: A knowledge base's name (the store's rule, checked before the store sees it).
KB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: What a request's ``model`` may be: KB or KB@provider:model.
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(@.+)?$"
#: Efforts a request may name: gpt-oss's, and other APIs' read as the nearest (with a warning).
EFFORT_VALUES = ["low", "medium", "high", "none", "minimal", "xhigh", "max"]
#: The error statuses an answering endpoint can give (besides the Guard's).
ANSWER_ERRORS = (400, 401, 403, 404, 409, 501, 502, 503, 504)
#: Efforts other APIs know, read as the nearest gpt-oss one (with a warning).
_EFFORT_ALIASES = {"none": "low", "minimal": "low", "xhigh": "high", "max": "high"}
_INSTRUCTION_ROLES = ("system", "developer")


def _json_int(value: Any) -> Any:
    # JSON Schema's integer includes 3.0; strict pydantic would refuse it.
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: For an integer field of a strict request model: 3 and 3.0, never "3" or true. Last in
#: ``Annotated[int, Field(ge=1), JSON_INT]``: after it, pydantic would publish ``ge`` (not
#: ``minimum``) in the JSON schema.
JSON_INT = BeforeValidator(_json_int)


class ReasoningOptions(BaseModel):
    """``reasoning``: the effort, and whether to leave the model's reasoning out."""

    model_config = ConfigDict(extra="allow", strict=True)

    effort: str | None = Field(default=None, json_schema_extra={"enum": [*EFFORT_VALUES, None]})
    exclude: bool | None = None


@dataclass
class Target:
    """The knowledge base and answering model a request's ``model`` names."""

    model: str  # as the client wrote it: KB or KB@provider:model
    kb_name: str
    kb: KnowledgeBase
    llm: str | None  # None: the server's configured model


@dataclass
class Turns:
    """A conversation read for RAG: the last user message is the question."""

    question: str
    history: list[Message] = field(default_factory=list)
    instructions: str = ""


def busy_error(name: str) -> ApiError:
    return ApiError(
        503,
        f"knowledge base {name!r} is being ingested; try again when the job "
        "is done (GET /v1/jobs/{id})",
        type="api_error",
        code="kb_ingesting",
        headers={"Retry-After": "5"},
    )


def open_kb(state: ServerState, name: str, *, param: str = "model") -> KnowledgeBase:
    """The knowledge base ``name``: 503 while it is being ingested, 404 when it does not exist."""
    if state.busy(name):
        raise busy_error(name)
    if not state.store.exists(name):
        known = ", ".join(state.kb_names()) or "none yet: POST /v1/ingest creates one"
        code = "model_not_found" if param == "model" else "kb_not_found"
        raise ApiError(
            404,
            f"no knowledge base named {name!r} (knowledge bases: {known}; "
            "GET /v1/models lists them)",
            param=param,
            code=code,
        )
    return state.kb(name)


def resolve_model(state: ServerState, model: str) -> Target:
    """``KB`` or ``KB@provider:model`` as a :class:`Target` (see :func:`open_kb` for errors)."""
    name, sep, llm = model.partition("@")
    llm = llm.strip()
    if not KB_NAME.match(name) or (sep and not llm):
        raise ApiError(
            400,
            f"invalid model {model!r}: use KB or KB@provider:model, e.g. "
            "docs@ollama:gpt-oss:20b (a KB name is 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit)",
            param="model",
            code="invalid_model",
        )
    if llm and not state.config.model_allowed(llm, state.settings.model):
        raise ApiError(
            403,
            f"this server does not let clients choose the answering model {llm!r}",
            type="permission_error",
            param="model",
            code="model_not_allowed",
        )
    if llm.startswith("local:") and llm != state.settings.model:
        # A client must not make the server load any file it names.
        path = llm.partition(":")[2]
        if "/" in path or "\\" in path or path.endswith(".gguf"):
            raise ApiError(
                400,
                f"{llm!r}: a client may name bundled local models (local:smollm2) "
                "but not model files; the server's own --model may be a file",
                param="model",
                code="invalid_model",
            )
    kb = open_kb(state, name)
    return Target(model=model, kb_name=name, kb=kb, llm=llm or None)


def pick_effort(*given: Any) -> tuple[str | None, list[str]]:
    """The first effort given (``reasoning_effort``, ``reasoning.effort``), checked."""
    for value in given:
        if value is None:
            continue
        effort = str(value).strip().lower()
        if effort in EFFORTS:
            return effort, []
        if effort in _EFFORT_ALIASES:
            mapped = _EFFORT_ALIASES[effort]
            return mapped, [f"reasoning effort {effort!r} is not a gpt-oss effort; used {mapped!r}"]
        raise ApiError(
            400,
            f"unknown reasoning effort {value!r}: use low, medium or high",
            param="reasoning_effort",
            code="invalid_effort",
        )
    return None, []


def split_turns(messages: list[Message]) -> Turns:
    """Question = the last message (a user's); earlier user/assistant turns = history.

    System and developer messages become extra instructions. Earlier
    ``reasoning`` is accepted and dropped (the harmony rule: a turn that
    ended with a final answer keeps no analysis; ``build_messages`` drops it).
    """
    if not messages:
        raise ApiError(
            400,
            "messages is empty: send at least the user's question",
            param="messages",
            code="invalid_messages",
        )
    instructions: list[str] = []
    turns: list[Message] = []
    for i, msg in enumerate(messages):
        role = msg.get("role")
        text = content_text(msg.get("content"))
        if role in _INSTRUCTION_ROLES:
            if text.strip():
                instructions.append(text.strip())
        elif role in ("user", "assistant"):
            if msg.get("tool_calls") or msg.get("function_call"):
                raise _tools_error(f"messages[{i}].tool_calls")
            turns.append({"role": role, "content": text, **_reasoning_of(msg)})
        elif role in ("tool", "function"):
            raise _tools_error(f"messages[{i}]")
        else:
            raise ApiError(
                400,
                f"messages[{i}]: unknown role {role!r}",
                param=f"messages[{i}].role",
                code="invalid_messages",
            )
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise ApiError(
            400,
            "the last message must be the user's question (role user, with text)",
            param="messages",
            code="invalid_messages",
        )
    return Turns(
        question=turns[-1]["content"].strip(),
        history=turns[:-1],
        instructions="\n\n".join(instructions),
    )


def _reasoning_of(msg: Message) -> dict[str, Any]:
    # Kept on the history message so that the library's harmony rule is what drops it.
    return {k: msg[k] for k in ("reasoning", "reasoning_content") if msg.get(k)}


def _tools_error(param: str) -> ApiError:
    return ApiError(
        400,
        "client-side tools are not supported: ossrag answers from its knowledge "
        "base (remove tools/tool messages)",
        param=param,
        code="unsupported_parameter",
    )


def offered_tools(tools: list[Any] | None, tool_choice: Any) -> list[str]:
    """The notes for client-side tools offered to the answer; 400 when one must be called.

    Offered tools with ``tool_choice`` auto (the default) or none leave the model
    free not to call them, and an ossrag answer never does: it answers from the
    knowledge base. Refusing them would refuse every request of a front end that
    offers its built-in tools to any model (Open WebUI does, with native function
    calling, its default). A request that requires a call cannot be honoured.
    """
    if not tools:
        return []
    if tool_choice not in (None, "auto", "none"):
        raise unsupported(
            "tool_choice",
            "ossrag never calls client-side tools; it answers "
            "from its knowledge base (send tool_choice auto or none)",
        )
    return [
        f"{len(tools)} client-side tool(s) offered and not called: ossrag answers from "
        "its knowledge base"
    ]


#: Sampling parameters clients send that ossrag's answers do not apply: its answer
#: prompt and the model's reasoning budget set them (temperature and the token limit
#: are honoured). Noted, not refused: front ends send some of them to every model.
NOT_APPLIED = (
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "top_k",
    "min_p",
    "repetition_penalty",
)


def not_applied(extra: dict[str, Any] | None) -> list[str]:
    """The note for sampling parameters given (``extra``: the request's unread fields)."""
    given = [p for p in NOT_APPLIED if (extra or {}).get(p) not in (None, [], {}, "")]
    if not given:
        return []
    return [
        f"{', '.join(given)} not applied: ossrag's answers honour temperature and the "
        "token limit only"
    ]


def unsupported(param: str, why: str) -> ApiError:
    return ApiError(
        400, f"{param} is not supported: {why}", param=param, code="unsupported_parameter"
    )


class Started:
    """An answer run that has produced its first event; iterate for all of them."""

    def __init__(
        self,
        run: AnswerRun,
        first: list[StreamEvent],
        rest: Iterator[StreamEvent],
        target: Target,
        notes: list[str],
    ) -> None:
        self.run, self._first, self._rest = run, first, rest
        self.target = target
        self.notes = notes  # the server's warnings (effort mapped, instructions merged)

    def __iter__(self) -> Iterator[StreamEvent]:
        yield from self._first
        self._first = []
        yield from self._rest

    def close(self) -> None:
        """Stop the model (a local model's lock is released)."""
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()

    @property
    def answer(self) -> Answer:
        assert self.run.answer is not None, "iterate the run to its end first"
        return self.run.answer


def start(
    state: ServerState,
    target: Target,
    turns: Turns,
    *,
    effort: str | None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    notes: list[str] | None = None,
) -> Started:
    """Retrieve and wait for the model's first event (blocking; call from a worker thread)."""
    run = target.kb.stream(
        turns.question,
        model=target.llm,
        effort=effort,
        max_tokens=max_tokens,
        history=turns.history,
    )
    notes = list(notes or [])
    if turns.instructions:
        # The client's system prompt joins ossrag's (cite the passages, say "I don't know").
        run.messages[0]["content"] += (
            "\n\nInstructions from the application:\n" + turns.instructions
        )
    if temperature is not None:
        run.llm_kwargs["temperature"] = temperature
    events = iter(run)
    first: list[StreamEvent] = []
    for ev in events:
        first.append(ev)
        if ev.type in ("text", "reasoning", "done"):
            break
    return Started(run, first, events, target, notes)
