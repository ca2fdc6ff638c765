"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}`, and the handlers that produce them.

Every failure the app can meet ends here, so a client never sees FastAPI's own `{"detail": ...}` shape and
never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from limner.errors import ImageInputError, InvalidRequest, SafetyBlocked

log = logging.getLogger("limner.server")


class APIError(Exception):
    """An error the API answers with; `status` is the HTTP status."""

    def __init__(self, message: str, *, status: int = 400, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The OpenAI error body: `{"error": {message, type, param, code, ...extra}}`."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code,
                          **self.extra}}

    def response(self) -> JSONResponse:
        """The error as a JSON response, with its status and headers."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 `invalid_request_error`, naming the parameter at fault when there is one."""
    return APIError(message, param=param, code=code)


def not_found(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 404 `invalid_request_error`: unknown ids, and records of another owner alike."""
    return APIError(message, status=404, param=param, code=code)


def model_not_found(model: str) -> APIError:
    """OpenAI's 404 `model_not_found` error for `model`."""
    return APIError(f"The model `{model}` does not exist or you do not have access to it.", status=404,
                    param="model", code="model_not_found")


def moderation_blocked(decision: Any, *, code: str = "moderation_blocked") -> APIError:
    """A safety refusal: `code` is `moderation_blocked` (Images) or `image_content_policy_violation` (Responses)."""
    details = decision.moderation_details()
    return APIError(
        "Your request was rejected by the safety system. " + str(details.get("reason", "")),
        param=None, code=code, extra={"moderation_details": details},
    )


def queue_full(retry_after_s: int) -> APIError:
    """The 429 for a full job queue, asking the client to retry after `retry_after_s` seconds."""
    return APIError("The server is busy: the generation queue is full. Retry after a few seconds.", status=429,
                    type="rate_limit_error", code="queue_full", headers={"Retry-After": str(retry_after_s)})


_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _param_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form") and not isinstance(p, int)]
    # pydantic names union members ("str", "list[...]"), function validators and tags in loc; drop them.
    # Bare type names match exactly, so that a parameter such as `stream` or `interval` is kept.
    parts = [p for p in parts if p not in _TYPE_TAGS and not p.startswith(_TAG_PREFIXES)]
    return ".".join(parts) or None


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "bytes", "none"})
_TAG_PREFIXES = ("function-", "list[", "dict[", "literal[", "tagged-union[", "union[", "nullable[")


def validation_error(exc: RequestValidationError) -> APIError:
    """A request validation failure in OpenAI's words, from its first error: an unknown, missing or
    invalid parameter, an unparsable body, or a body that is not a JSON object."""
    errs = exc.errors()
    if not errs:
        return invalid("Invalid request.")
    e = errs[0]
    if e.get("type") == "json_invalid":
        return invalid("We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                       "using your HTTP library correctly. The OpenAI API expects a JSON payload.)")
    loc = tuple(e.get("loc", ()))
    if e.get("type") == "extra_forbidden" and loc:
        # the key itself, as sent: a key spelled like a type tag ("str", "none") must not be dropped as one
        key = ".".join(p for p in (_param_of(loc[:-1]), str(loc[-1])) if p)
        return invalid(f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    param = _param_of(loc)
    if param is None:  # the body as a whole: absent, or JSON that is not an object
        if e.get("type") == "missing":
            return invalid("The request has no body; send a JSON object with the parameters.",
                           code="missing_required_parameter")
        got = e.get("input")
        kind = "non-JSON data" if isinstance(got, bytes) else f"a JSON {_JSON_TYPES.get(type(got), 'value')}"
        return invalid(f"The request body must be a JSON object of parameters, not {kind}.", code="invalid_value")
    if e.get("type") == "missing":
        return invalid(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    msg = str(e.get("msg", "invalid value"))
    got = e.get("input")
    shown = repr(got)[:80] if got is not None and not isinstance(got, dict) else None
    return invalid(f"Invalid value for '{param}': {msg}" + (f" (got {shown})." if shown else "."), param=param,
                   code="invalid_value")


class JobCancelled(Exception):
    """The client went away; the job stops at the next progress tick."""


def error_for(exc: BaseException, *, responses: bool = False) -> APIError:
    """Map an exception from the pipeline or a job to the API's error: the one place limner's typed errors
    (limner/errors.py) become OpenAI-shaped responses."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, SafetyBlocked):
        return moderation_blocked(exc.decision,
                                  code="image_content_policy_violation" if responses else "moderation_blocked")
    if isinstance(exc, InvalidRequest | ImageInputError):
        msg = str(exc)
        # the engine's messages start with the parameter they name ("prompt is empty", "unknown size ...")
        words = msg.replace("'", " ").split()[:2]
        param = next((p for p in ("prompt", "size", "n", "quality", "background") if p in words), None)
        return invalid(msg, param=param, code="invalid_value")
    if isinstance(exc, JobCancelled):
        return APIError("The request was cancelled.", status=499, code="cancelled")
    log.error("generation failed: %s", exc, exc_info=exc)
    return APIError(f"The server had an error while generating ({type(exc).__name__}).", status=500,
                    type="server_error")


def install(app: FastAPI) -> None:
    """Register the handlers that answer every error (ours, validation, HTTP, unexpected) in OpenAI's shape."""
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ("not_found", "invalid_request_error"), 405: ("method_not_allowed", "invalid_request_error")}
        code, typ = codes.get(exc.status_code, (None, "invalid_request_error"))
        return APIError(str(exc.detail), status=exc.status_code, type=typ, code=code).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return APIError(f"The server had an error while processing your request ({type(exc).__name__}).",
                        status=500, type="server_error").response()
