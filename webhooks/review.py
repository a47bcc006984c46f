"""One entry point for every webhook path: a path and a body in, an HTTP status and a JSON body out. Pure.

``handle(path, body, state)`` never raises. It answers

* 200 with an AdmissionReview (or ConversionReview) for every well-formed review, allowed or denied;
* 400 with ``{"error": "<short reason>"}`` for a body that is not a review (bad JSON, wrong apiVersion or kind,
  no ``request.uid``);
* 404 for an unknown path.

A bug in a rule (an unexpected exception) must not become a 500 the apiserver reports as "failed calling
webhook": it is answered as a denial for config kinds (their failure policy is Fail anyway) and as an allow with a
warning for Services (their failure policy is Ignore: an outage must never block application deploys). The
exception is returned to the caller (``Reply.internal_error``) to be logged; nothing of it reaches the client
beyond its class name.

Until every kind in ``state.require_synced`` has had its first full list, no rule runs: a config object is denied
("retry shortly") and a Service is allowed with that warning. In a cluster the webhook Service's endpoints wait for
``/readyz``, but out of cluster (``--register-url``) the apiserver calls as soon as the configuration exists, and
an overlap judged against an empty Store would let a bad pool in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crds.meta import Resource

from .admission import AdmissionRequest, BadRequest, Decision, allow, decode_review, deny, encode_response
from .config_review import review_config
from .conversion import review_conversion
from .services import review_service
from .state import CONFIG_KINDS, ClusterState

__all__ = ["CONVERT_PATH", "SERVICE_PATH", "VALIDATING_PATHS", "Reply", "handle", "validate_path"]

CONVERT_PATH = "/convert"
SERVICE_PATH = "/validate-v1-service"


def validate_path(model: type[Resource]) -> str:
    """MetalLB's path for a kind: ``/validate-metallb-io-v1beta1-ipaddresspool``."""
    info = model.api
    return f"/validate-{info.group.replace('.', '-')}-{info.version}-{info.singular}"


Rule = Callable[[AdmissionRequest, ClusterState], Decision]


def _config_rule(model: type[Resource]) -> Rule:
    def rule(req: AdmissionRequest, state: ClusterState) -> Decision:
        return review_config(model, req, state)

    return rule


#: path -> (rule, whether an internal error denies)
VALIDATING_PATHS: dict[str, tuple[Rule, bool]] = {
    **{validate_path(m): (_config_rule(m), True) for m in CONFIG_KINDS},
    SERVICE_PATH: (review_service, False),
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    decision: Decision | None = None
    internal_error: BaseException | None = None


def handle(path: str, body: bytes | dict[str, Any], state: ClusterState) -> Reply:
    """Answer one webhook call; never raises (see the module docstring)."""
    try:
        if path == CONVERT_PATH:
            return Reply(200, review_conversion(body))
        route = VALIDATING_PATHS.get(path)
        if route is None:
            return Reply(404, {"error": f"no webhook at {path[:100]}"})
        req = decode_review(body)
    except BadRequest as exc:
        return Reply(400, {"error": str(exc)})
    except Exception as exc:  # a bug in decoding: still an answer, never a traceback
        return Reply(400, {"error": f"cannot read the body ({type(exc).__name__})"}, internal_error=exc)
    rule, deny_on_error = route
    waiting = state.unsynced()
    if waiting:  # see the module docstring: a partial cluster is never judged
        reason = f"the pymetallb webhook has not finished reading the cluster ({', '.join(waiting)}); retry shortly"
        decision = deny(reason) if deny_on_error else allow(reason)
        return Reply(200, encode_response(req.uid, decision), decision)
    error: BaseException | None = None
    try:
        decision = rule(req, state)
    except Exception as exc:  # a bug in a rule: see the module docstring
        error = exc
        reason = f"internal error in the pymetallb webhook ({type(exc).__name__}); see its log"
        decision = deny(reason) if deny_on_error else allow(reason)
    return Reply(200, encode_response(req.uid, decision), decision, error)
