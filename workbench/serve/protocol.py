"""The OpenAI API's request bodies, checked, and the errors it answers with.

`parse_chat` and `parse_completion` turn a decoded JSON body into a `Request` or raise `ApiError`, whose
status and `{"error": {"message", "type", "param", "code"}}` body say what was wrong, as OpenAI's API
does. Fields the workbench cannot honour are refused when they would change the output (tools, a
penalty, n > 1, logprobs); fields that change nothing it does (user, metadata, stream_options) are
accepted; anything else is an unknown parameter. Sampling values go through the settings table's own
validation (engine/settings.py), so the API takes exactly what the sidebar and the flags take.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..engine.errors import WorkbenchError
from ..engine.settings import validate

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_STOP = 4  # OpenAI's limit on stop sequences
MAX_STOP_CHARS = 200  # a stop sequence is looked for after every token: keep that cheap

# accepted and without effect here: they do not change what the model generates
_HARMLESS = {"model", "user", "metadata", "store", "stream_options", "service_tier", "parallel_tool_calls"}
# OpenAI's fields the workbench cannot honour, with the value that asks nothing of it (accepted)
_NEUTRAL: dict[str, Any] = {"frequency_penalty": 0, "presence_penalty": 0, "logit_bias": {}, "logprobs": False,
                            "top_logprobs": 0, "tools": [], "tool_choice": "none", "functions": [],
                            "response_format": {"type": "text"}, "echo": False, "best_of": 1, "suffix": None,
                            "modalities": ["text"], "reasoning_effort": None, "prediction": None}
_SAMPLING = {"temperature", "top_p", "top_k", "seed", "max_tokens", "stop", "stream", "n"}
_EXTENSIONS = {"forget"}  # the workbench's own: start this request with no state learnt from earlier ones
CHAT_FIELDS = {"messages", "max_completion_tokens"} | _SAMPLING | _HARMLESS | _EXTENSIONS
COMPLETION_FIELDS = {"prompt"} | _SAMPLING | _HARMLESS | _EXTENSIONS


class ApiError(Exception):
    """An error answer: HTTP status and OpenAI's error object."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass
class Request:
    """One generation asked for, checked."""

    endpoint: str  # "chat" or "completion"
    messages: list[dict[str, str]] | None = None  # chat
    prompt: str | None = None  # completion
    max_tokens: int | None = None  # None: as many as the context holds
    stream: bool = False
    stop: list[str] = field(default_factory=list)
    sampling: dict[str, Any] = field(default_factory=dict)  # settings names (temperature, top_p, top_k, seed)
    forget: bool = False
    include_usage: bool = False  # stream_options.include_usage: a last chunk with usage and no choices

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, **({"messages": self.messages} if self.messages is not None else
                                              {"prompt": self.prompt}),
                "max_tokens": self.max_tokens, "stream": self.stream, "stop": self.stop, "sampling": self.sampling,
                "forget": self.forget}


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def decode_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object: UTF-8, no NaN or Infinity, an object at the top."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise ApiError(400, f"the request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _check_fields(body: dict[str, Any], allowed: set[str]) -> None:
    for name, value in body.items():
        if name in allowed:
            continue
        if name in _NEUTRAL:
            if value is None or value == _NEUTRAL[name]:
                continue
            raise ApiError(400, f"{name} is not supported by the workbench's server", param=name,
                           code="unsupported_parameter")
        raise ApiError(400, f"unrecognized request argument supplied: {name}", param=name, code="unknown_parameter")


def _typed(body: dict[str, Any], name: str, kinds: tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise ApiError(400, f"{name} must be {what}, not {json.dumps(value)[:80]}", param=name, code="invalid_type")
    return value


def _setting(body: dict[str, Any], name: str, setting: str) -> Any:
    value = _typed(body, name, (int, float) if setting != "seed" and setting != "top_k" else (int,),
                   "a number" if setting in ("temperature", "top_p") else "a whole number")
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):  # parse_constant keeps these out; be sure
        raise ApiError(400, f"{name} must be a finite number", param=name, code="invalid_value")
    try:
        return validate(setting, value, called=name)
    except WorkbenchError as e:
        raise ApiError(400, str(e), param=name, code="invalid_value") from None


def _common(body: dict[str, Any], endpoint: str, max_tokens: int | None) -> Request:
    n = _typed(body, "n", (int,), "a whole number")
    if n is not None and n != 1:
        raise ApiError(400, "n must be 1: the workbench generates one choice per request", param="n",
                       code="unsupported_parameter")
    _typed(body, "model", (str,), "a string")
    stream = _typed(body, "stream", (bool,), "true or false") or False
    options = _typed(body, "stream_options", (dict,), "an object") or {}
    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = list(stop)
    else:
        raise ApiError(400, "stop must be a string or a list of strings", param="stop", code="invalid_type")
    if len(stops) > MAX_STOP:
        raise ApiError(400, f"stop takes at most {MAX_STOP} sequences", param="stop", code="invalid_value")
    if any(len(s) > MAX_STOP_CHARS for s in stops):
        raise ApiError(400, f"a stop sequence may be at most {MAX_STOP_CHARS} characters", param="stop",
                       code="invalid_value")
    if max_tokens is not None and max_tokens < 1:
        raise ApiError(400, "max_tokens must be at least 1", param="max_tokens", code="invalid_value")
    sampling = {s: v for s, v in (("temperature", _setting(body, "temperature", "temperature")),
                                  ("top_p", _setting(body, "top_p", "top_p")),
                                  ("top_k", _setting(body, "top_k", "top_k")),
                                  ("seed", _setting(body, "seed", "seed"))) if v is not None}
    forget = _typed(body, "forget", (bool,), "true or false") or False
    return Request(endpoint, max_tokens=max_tokens, stream=stream, stop=[s for s in stops if s], sampling=sampling,
                   forget=forget, include_usage=bool(options.get("include_usage")))


def _content(message: dict[str, Any], i: int) -> str:
    content = message.get("content")
    if content is None and message.get("role") == "assistant":
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: text only
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(400, f"messages[{i}].content: only text parts are supported",
                               param=f"messages[{i}].content", code="invalid_value")
            parts.append(part["text"])
        return "".join(parts)
    raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts",
                   param=f"messages[{i}].content", code="invalid_type")


def parse_chat(body: dict[str, Any]) -> Request:
    _check_fields(body, CHAT_FIELDS)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ApiError(400, "messages must be a list of messages" if "messages" in body else
                       "messages is required", param="messages", code="invalid_type" if "messages" in body else
                       "missing_required_parameter")
    if not messages:
        raise ApiError(400, "messages must not be empty", param="messages", code="invalid_value")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ApiError(400, f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type")
        role = m.get("role")
        if role not in ROLES:
            raise ApiError(400, f"messages[{i}].role must be one of {', '.join(ROLES)}, not {json.dumps(role)[:40]}",
                           param=f"messages[{i}].role", code="invalid_value")
        clean.append({"role": "system" if role == "developer" else role, "content": _content(m, i)})
    limit = [v for v in (_typed(body, "max_completion_tokens", (int,), "a whole number"),
                         _typed(body, "max_tokens", (int,), "a whole number")) if v is not None]
    request = _common(body, "chat", min(limit) if limit else None)
    request.messages = clean
    return request


def parse_completion(body: dict[str, Any]) -> Request:
    _check_fields(body, COMPLETION_FIELDS)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]  # one prompt in a list, as some clients send it
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be a string" if "prompt" in body else "prompt is required", param="prompt",
                       code="invalid_type" if "prompt" in body else "missing_required_parameter")
    if not prompt:
        raise ApiError(400, "prompt must not be empty", param="prompt", code="invalid_value")
    request = _common(body, "completion", _typed(body, "max_tokens", (int,), "a whole number"))
    request.prompt = prompt
    return request
