"""The BGPPeer conversion webhook: a ConversionReview in, the same review with converted objects out. Pure.

The conversion itself is ``crds.conversion.convert_bgppeer`` (v1beta1 ⇄ v1beta2). Both ConversionReview
versions are answered (``apiextensions.k8s.io/v1`` and ``v1beta1``), each in the version it was asked in: the
CRD lists ``conversionReviewVersions: [v1beta1, v1beta2]`` as MetalLB's does, and the apiserver sends the first
one it knows, v1beta1.

A body that is not a ConversionReview raises ``BadRequest`` (HTTP 400). An object that cannot be converted
fails the whole review with ``result.status: Failure`` and the reason, as the API requires.
"""

from __future__ import annotations

from typing import Any

from crds.conversion import convert_bgppeer

from .admission import BadRequest, decode_json

__all__ = ["CONVERSION_API_VERSIONS", "review_conversion"]

CONVERSION_API_VERSIONS = ("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1")


def review_conversion(body: bytes | dict[str, Any]) -> dict[str, Any]:
    """The ConversionReview reply; raises ``BadRequest`` for a body that is not a ConversionReview."""
    data = decode_json(body) if isinstance(body, bytes) else body
    api_version = data.get("apiVersion")
    if api_version not in CONVERSION_API_VERSIONS:
        raise BadRequest(f"apiVersion must be one of {', '.join(CONVERSION_API_VERSIONS)}")
    if data.get("kind") != "ConversionReview":
        raise BadRequest("kind must be ConversionReview")
    req = data.get("request")
    if not isinstance(req, dict):
        raise BadRequest("request is missing")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadRequest("request.uid is missing")
    desired = req.get("desiredAPIVersion")
    objects = req.get("objects")
    if not isinstance(desired, str) or not isinstance(objects, list):
        raise BadRequest("request.desiredAPIVersion and request.objects are required")

    response: dict[str, Any] = {"uid": uid}
    converted: list[dict[str, Any]] = []
    failure = ""
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            failure = f"objects[{i}] is not an object"
            break
        if obj.get("kind") != "BGPPeer":
            failure = f"objects[{i}]: only BGPPeer is converted, not {obj.get('kind')!r}"
            break
        try:
            converted.append(convert_bgppeer(obj, desired))
        except (ValueError, TypeError, AttributeError) as exc:
            failure = f"objects[{i}]: {exc}"
            break
        except RecursionError:
            failure = f"objects[{i}]: nested too deeply"
            break
    if failure:
        response["result"] = {"status": "Failure", "message": failure}
        response["convertedObjects"] = []
    else:
        response["result"] = {"status": "Success"}
        response["convertedObjects"] = converted
    return {"apiVersion": api_version, "kind": "ConversionReview", "response": response}
