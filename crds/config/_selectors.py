"""Label selectors, judged in one place: Kubernetes' syntax rules, MetalLB's duplicate checks, and Go's
printed form of a selector; plus matching a selector list against Nodes or Namespaces.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..meta import OPERATORS, LabelSelector, selector_matches
from ..text import go_quote
from ._model import LabeledObject


def go_selector_string(sel: LabelSelector) -> str:
    """Approximately Go's generated ``LabelSelector.String()`` (used inside MetalLB's duplicate messages)."""
    labels = "".join(f"{k}: {v}," for k, v in sorted((sel.match_labels or {}).items()))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.key},Operator:{e.operator},Values:[{' '.join(sorted(e.values or ()))}],}},"
        for e in sel.match_expressions or ()
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )


def _selector_problem(sel: LabelSelector) -> str | None:
    """Kubernetes' own checks of a selector (``LabelSelectorAsSelector``), with its wording."""
    for req in sel.match_expressions or ():
        if req.operator not in OPERATORS:
            return f"{go_quote(req.operator)} is not a valid label selector operator"
        if req.operator in ("In", "NotIn") and not req.values:
            return "for 'in', 'notin' operators, values set can't be empty"
        if req.operator in ("Exists", "DoesNotExist") and req.values:
            return "values set must be empty for exists and does not exist"
    return None


def check_selectors(selectors: Sequence[LabelSelector] | None, what: str) -> str | None:
    """Duplicate selectors, duplicate expressions and duplicate values, as MetalLB checks them."""
    sels = list(selectors or ())
    for i, sel in enumerate(sels):
        exprs = list(sel.match_expressions or ())
        for j, expr in enumerate(exprs):
            values = list(expr.values or ())
            for a in range(len(values)):
                if values[a] in values[a + 1 :]:
                    return f"duplicate definition of match expression value in label selector {go_quote(values[a])}"
            for twin in exprs[j + 1 :]:
                if (twin.key, twin.operator, sorted(twin.values or ())) == (
                    expr.key,
                    expr.operator,
                    sorted(expr.values or ()),
                ):
                    text = (
                        f"&LabelSelectorRequirement{{Key:{expr.key},Operator:{expr.operator},"
                        f"Values:[{' '.join(sorted(values))}],}}"
                    )
                    return f"duplicate definition of match expressions {go_quote(text)}"
        for other in sels[i + 1 :]:
            if other.canonical() == sel.canonical():
                return f"duplicate definition of {what} {go_quote(go_selector_string(sel))}"
    return None


def invalid_selector(selectors: Sequence[LabelSelector] | None) -> str | None:
    for sel in selectors or ():
        problem = _selector_problem(sel)
        if problem:
            return problem
    return None


def matching(objects: Sequence[LabeledObject] | None, selectors: Sequence[LabelSelector]) -> frozenset[str] | None:
    """Names selected by any selector; all objects when there are no selectors; None when unknown."""
    if objects is None:
        return None
    if not selectors:
        return frozenset(o.name for o in objects)
    return frozenset(o.name for o in objects if any(selector_matches(s, dict(o.labels)) for s in selectors))


def sorted_selectors(selectors: Sequence[LabelSelector] | None) -> tuple[LabelSelector, ...]:
    return tuple(sorted(selectors or (), key=lambda s: s.canonical()))
