"""The OpenAPI document names every answer an operation can give, its refusals included.

FastAPI documents an operation's success, and a 422 in its own `HTTPValidationError` shape that
this API never sends. Every refusal here is RFC 9457 problem+json (api/problems.py) and follows
from what the route declares: its dependencies (an API key, a role check, Temporal), its path
parameters, its body, its `Idempotency-Key`, or from the middleware in front of every route. The
document is rewritten from those once, when it is first asked for, so no route lists its refusals
by hand and none is listed that the route cannot give. The few things a route does by hand, out of
FastAPI's sight (a webhook's signature header, a status it sets itself), are named here too.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.routing import BaseRoute

from adapters.couriers.signing import SIGNATURE_HEADER as COURIER_SIGNATURE
from adapters.payments.signing import SIGNATURE_HEADER as SANDBOX_SIGNATURE
from adapters.payments.stripe import SIGNATURE_HEADER as STRIPE_SIGNATURE
from api.deps import PrincipalDep, SessionDep, SessionsDep, TemporalDep, require
from api.problems import PROBLEM_JSON, PROBLEM_SCHEMAS
from api.routes import ticket_actions

SCHEME = "apiKey"
_PROBLEM = "#/components/schemas/Problem"
_AUTHENTICATE = get_args(PrincipalDep)[1].dependency
_TEMPORAL = get_args(TemporalDep)[1].dependency
# Authenticating an API key reads it from the database too.
_DATABASE = {_AUTHENTICATE, *(get_args(dep)[1].dependency for dep in (SessionDep, SessionsDep))}
# Every closure `require(...)` returns runs this code; its `roles` say whom it admits.
_ROLE_CHECK = require().__code__

_INVALID = (
    "the request breaks a bound or a rule: a parameter or body field out of range, an unknown "
    "field, text the database cannot store (NUL, lone surrogates; checked in the path and query "
    "of every request), or a business rule; `code` says which, `errors[]` names the fields"
)
_UNREADABLE = "the body could not be read as JSON text (e.g. it is not UTF-8)"
_TOO_LARGE = "the body is larger than the API accepts"
_UNAUTHENTICATED = (
    "no credential, an API key that is unknown, revoked or expired, or a buyer token that does "
    "not verify (`unauthenticated`; `reason` says which)"
)
_RULES = (
    "a condition does not compile or reads an unknown fact, `errors[]` names each rule's "
    "problem (`rule_syntax`, `rule_unknown_fact`, `rule_too_complex`) with its `line` and `column`"
)
_SIGNATURE = "the signature header is missing, malformed, wrong or too old (`invalid_signature`)"
_IDEMPOTENT = (
    "the first request under this `Idempotency-Key` is still being handled (`concurrent_request`)"
)
_DATABASE_DOWN = "the database did not answer (`database_unavailable`: nothing was done)"
_TEMPORAL_DOWN = "Temporal did not answer (`temporal_unavailable`: nothing was done)"
_OUTCOME_UNKNOWN = (
    "the database or Temporal failed after the request may have taken effect (`outcome_unknown`):"
    " send it again with the same `Idempotency-Key` to learn what happened"
)
_TOKEN_KEYS_DOWN = "the keys that verify buyer tokens could not be read (`token_keys_unavailable`)"
_TOO_MANY = (
    "a rate limit of the key, the address or the webhook sender is spent (`rate_limited`), or "
    "the address failed to authenticate too often (`auth_throttled`)"
)
# api/limits.py limits every call under /v1; only probes, metrics and the station page are not.
_LIMITED_PREFIX = "/v1/"


def install(app: FastAPI) -> None:
    """Serve the document with its refusals from `/openapi.json` and the docs pages."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_refusals(generate(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_refusals(document: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    special = _special_refusals()
    found: set[str] = set()
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path = str(route.path_format)
        for method in sorted(route.methods or ()):
            key = f"{method} {path}"
            operation = document["paths"][path][method.lower()]
            refusals = _refusals(route, operation) | special.get(key, {})
            found.add(key)
            _document(operation, refusals)
            _document_successes(key, operation)
            operation.setdefault("parameters", []).extend(_SIGNATURES.get(key, []))
            if _AUTHENTICATE in _calls(route.dependant):
                operation["security"] = [{SCHEME: []}]
    unknown = sorted(set(special) - found)
    if unknown:
        raise LookupError(f"refusals listed for operations the API does not have: {unknown}")
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(PROBLEM_SCHEMAS)
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <credential>`: an API key, bound to a role and a "
        "subject, or a buyer token (a JWT the platform signs, naming the buyer)",
    }
    _drop_fastapi_shapes(components["schemas"], document)
    return document


def _refusals(route: RouteContext, operation: dict[str, Any]) -> dict[int, str]:
    calls = list(_calls(route.dependant))
    refusals = {422: _INVALID}
    if "requestBody" in operation:
        refusals |= {400: _UNREADABLE, 413: _TOO_LARGE}
    if _AUTHENTICATE in calls:
        refusals[401] = _UNAUTHENTICATED
    roles = [role for call in calls for role in _admitted_roles(call)]
    if roles:
        refusals[403] = f"only a {' or '.join(roles)} key may do this (`forbidden_role`)"
    parameters = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
    names = [f"`{name}`" for where, name in sorted(parameters) if where == "path"]
    if names:
        # Also the router's answer when a value holds a `/` and the path then names no route.
        refusals[404] = f"nothing of yours has this {', '.join(names)}"
    if ("header", "Idempotency-Key") in parameters:
        refusals[409] = _IDEMPOTENT
    if str(route.path_format).startswith(_LIMITED_PREFIX):
        refusals[429] = _TOO_MANY
    unavailable = [_DATABASE_DOWN] if _DATABASE & set(calls) else []
    if _AUTHENTICATE in calls:
        unavailable.append(_TOKEN_KEYS_DOWN)
    if _TEMPORAL in calls:
        unavailable.append(_TEMPORAL_DOWN)
        if ("header", "Idempotency-Key") in parameters:
            unavailable.append(_OUTCOME_UNKNOWN)
    if unavailable:
        refusals[503] = "; or ".join(unavailable)
    return refusals


def _signature(header: str, sender: str) -> dict[str, Any]:
    return {
        "name": header,
        "in": "header",
        "required": False,
        "description": f'from {sender}: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t." + body>`',
        "schema": {"type": "string"},
    }


# Headers a webhook reads by hand, from the raw request, so FastAPI does not see them.
_SIGNATURES = {
    "POST /v1/webhooks/payments/{provider}": [
        _signature(SANDBOX_SIGNATURE, "the `sandbox` provider"),
        _signature(STRIPE_SIGNATURE, "`stripe`"),
    ],
    "POST /v1/webhooks/couriers/{carrier}": [_signature(COURIER_SIGNATURE, "the courier")],
}


def _document_successes(key: str, operation: dict[str, Any]) -> None:
    """Successes FastAPI cannot see: a route that answers a `Response` of its own, or sets the
    status itself."""
    responses = operation["responses"]
    if key == "GET /metrics":
        media_type = CONTENT_TYPE_LATEST.split(";")[0]
        responses["200"] = {
            "description": "the metrics, in Prometheus' text exposition format",
            "content": {media_type: {"schema": {"type": "string"}}},
        }
    elif key == "PUT /v1/orders/{order_id}":
        responses["200"]["description"] = "the order, replaced"
        responses["201"] = {**responses["200"], "description": "the order, created"}
    operation["responses"] = dict(sorted(responses.items()))


def _special_refusals() -> dict[str, dict[int, str]]:
    """What single operations refuse that nothing in their signature shows."""
    webhook = {401: _SIGNATURE, 404: "no such sender is configured", 413: _TOO_LARGE}
    special = {
        "POST /v1/tickets": {404: "no order `order_id` of yours (`order_not_found`)"},
        "PUT /v1/orders/{order_id}": {
            409: "`version` is older than the stored one (`stale_order_version`), or the same "
            "with other content (`order_version_conflict`)"
        },
        "POST /v1/tickets/{ticket_no}/messages": {
            409: f"the ticket is closed to your messages (`illegal_transition`), or {_IDEMPOTENT}"
        },
        "PUT /v1/merchants/{merchant_id}/rules": {422: f"{_INVALID}; `rule_invalid`: {_RULES}"},
        "POST /v1/merchants/{merchant_id}/rules/test": {
            404: "no merchant `merchant_id` of yours (`merchant_not_found`), or no ticket "
            "`ticket_no` of that merchant (`ticket_not_found`)",
            422: f"{_INVALID}; `rule_invalid`: {_RULES}; `no_rules`: the merchant has none and "
            "none were sent; `facts_unavailable`: the ticket opened before its facts were kept",
        },
        "POST /v1/merchants/{merchant_id}/rules/what-if": {
            422: f"{_INVALID}; `rule_invalid`: {_RULES}; `no_rules`: the merchant has none and "
            "none were sent; `period_invalid`, `period_too_long`: the period is empty or longer "
            "than 366 days; `idempotency_key_reused`",
        },
        "GET /v1/merchants/{merchant_id}/rules/what-if/{run_id}": {
            404: "no merchant `merchant_id` of yours (`merchant_not_found`), or no what-if "
            "`run_id` of that merchant (`what_if_not_found`)",
            422: f"{_INVALID}; `cursor_invalid`",
        },
        "POST /v1/webhooks/payments/{provider}": webhook,
        "POST /v1/webhooks/couriers/{carrier}": webhook,
    }
    for route in ticket_actions.router.routes:
        if isinstance(route, APIRoute):
            special[f"POST {route.path_format}"] = {
                502: "the ticket's workflow failed the action in a way it does not name "
                "(`action_failed`)"
            }
    return special


def _document(operation: dict[str, Any], refusals: dict[int, str]) -> None:
    responses: dict[str, Any] = operation["responses"]
    declared = {
        int(status): answer
        for status, answer in responses.items()
        if status.isdigit() and int(status) >= 400
    }
    for status in sorted(set(refusals) | set(declared)):
        words = declared.get(status, {}).get("description")
        # A route's own words about a refusal win; FastAPI's default 422 text is not one.
        if not words or words == "Validation Error":
            words = refusals.get(status, words or "refused")
        responses[str(status)] = _problem_answer(status, words)


def _problem_answer(status: int, description: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM}}},
    }
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": _header("the scheme to use: `Bearer`", "string")}
    if status in (429, 503):
        answer["headers"] = {"Retry-After": _header("seconds until a retry may pass", "integer")}
    return answer


def _header(description: str, type_: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": type_}}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _admitted_roles(call: Callable[..., Any]) -> list[str]:
    if getattr(call, "__code__", None) is not _ROLE_CHECK:
        return []
    return [str(role) for role in inspect.getclosurevars(call).nonlocals["roles"]]


def _drop_fastapi_shapes(schemas: dict[str, Any], document: dict[str, Any]) -> None:
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
        if f'"#/components/schemas/{name}"' in json.dumps(document):
            raise LookupError(f"{name} is still referenced after the refusals were rewritten")
