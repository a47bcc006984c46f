"""YAML read the way Kubernetes' and MetalLB's Go readers read it; the one YAML loader of the offline tools.

PyYAML implements YAML 1.1, where ``1:2`` is the base-60 integer 62; Go's yaml.v2 reads it as the string
``"1:2"`` (a BGP community, a legacy alias value). A key given twice in one mapping is an error, as with
``kubectl``'s strict decoding, not a silent overwrite. Nothing here builds Python objects (safe loader).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .text import go_quote

__all__ = ["GoYAMLLoader"]


class GoYAMLLoader(yaml.SafeLoader):
    """YAML as MetalLB's Go reader (yaml.v2 ``UnmarshalStrict``) reads it.

    Go's YAML has no base-60 numbers, so ``1:2`` (a community) is the string it looks like, not the
    integer 62; and a key given twice in one mapping is an error, not a silent overwrite.
    """


GoYAMLLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
GoYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
GoYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_mapping(loader: GoYAMLLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with << may be overridden
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping key {go_quote(str(key))} already defined", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


GoYAMLLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
