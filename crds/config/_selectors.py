"""Label selectors, judged in one place, with Kubernetes' and MetalLB's texts.

Three checks, in MetalLB's order, and nothing else in the parser judges a selector:

* ``duplicates(selectors, what)``: MetalLB's ``validateLabelSelectorDuplicate`` (a value listed twice in one
  expression, an expression twice in one selector, a selector twice in one list);
* ``syntax_problem(selectors, use, owner)``: apimachinery's ``metav1.LabelSelectorAsSelector`` (operator,
  label key and value syntax, value counts), wrapped in the text MetalLB adds at each ``use``;
* the printed forms of a selector that those messages embed, reproduced from the Go source:

  - ``%v`` / ``%q`` of a ``metav1.LabelSelector`` *value* (MetalLB passes values, and ``String()`` has a pointer
    receiver, so ``fmt`` prints the struct by reflection): ``{map[a:b] [{k In [x y]}]}`` and
    ``{map["a":"b"] [{"k" "In" ["x" "y"]}]}``;
  - the generated ``(*LabelSelector).String()`` where MetalLB passes a pointer (namespace selectors of a pool):
    ``&LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{...},}``.

MetalLB's duplicate check sorts each expression's values in place before anything else reads them, so every
later message (and apimachinery's ``values[i]`` index) sees them sorted; preferred node selectors are not
checked for duplicates, so their values keep the order given. apimachinery visits ``matchLabels`` in Go's
random map order; we visit keys in sorted order, so the first bad label reported is deterministic.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence

from ..meta import OPERATORS, LabelSelector, LabelSelectorRequirement, selector_matches
from ..text import go_quote
from ._model import LabeledObject

__all__ = [
    "SelectorUse",
    "duplicates",
    "go_selector_string",
    "go_selector_value",
    "matching",
    "sorted_selectors",
    "syntax_problem",
]


# --- Go's printed forms ------------------------------------------------------------------------------


def _values(req: LabelSelectorRequirement, sort: bool) -> list[str]:
    values = list(req.values or ())
    return sorted(values) if sort else values


def go_selector_string(sel: LabelSelector) -> str:
    """The generated ``(*metav1.LabelSelector).String()`` (gogo protobuf), values sorted as MetalLB leaves them."""
    labels = "".join(f"{k}: {v}," for k, v in sorted((sel.match_labels or {}).items()))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.key},Operator:{e.operator},Values:[{' '.join(_values(e, True))}],}},"
        for e in sel.match_expressions or ()
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )


def _go_requirement_value(req: LabelSelectorRequirement, quote: bool, sort: bool) -> str:
    q = go_quote if quote else str
    return f"{{{q(req.key)} {q(req.operator)} [{' '.join(q(v) for v in _values(req, sort))}]}}"


def go_selector_value(sel: LabelSelector, *, quote: bool = False, sort: bool = True) -> str:
    """``fmt``'s ``%v`` (or ``%q`` with ``quote``) of a ``metav1.LabelSelector`` value: the struct by reflection."""
    q = go_quote if quote else str
    labels = " ".join(f"{q(k)}:{q(v)}" for k, v in sorted((sel.match_labels or {}).items()))
    exprs = " ".join(_go_requirement_value(e, quote, sort) for e in sel.match_expressions or ())
    return f"{{map[{labels}] [{exprs}]}}"


def _go_json(values: list[str]) -> str:
    """``encoding/json`` of a ``[]string`` (nil is ``null``; HTML-sensitive characters escaped as Go does)."""
    if not values:
        return "null"
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


# --- MetalLB's duplicate checks ----------------------------------------------------------------------


def duplicates(selectors: Sequence[LabelSelector] | None, what: str) -> str | None:
    """MetalLB's ``validateLabelSelectorDuplicate``: the first duplicate value, expression or selector."""
    sels = list(selectors or ())
    for i, sel in enumerate(sels):
        exprs = list(sel.match_expressions or ())
        for j, expr in enumerate(exprs):
            values = _values(expr, True)
            for a in range(len(values) - 1):
                if values[a] == values[a + 1]:
                    return f"duplicate definition of match expression value in label selector {go_quote(values[a])}"
            for twin in exprs[j + 1 :]:
                if (twin.key, twin.operator, _values(twin, True)) == (expr.key, expr.operator, values):
                    return f"duplicate definition of match expressions {_go_requirement_value(expr, True, True)}"
        text = go_selector_string(sel)
        for other in sels[i + 1 :]:
            if go_selector_string(other) == text:
                return f"duplicate definition of {what} {go_selector_value(sel, quote=True)}"
    return None


# --- apimachinery's syntax checks --------------------------------------------------------------------

_QNAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(_QNAME)
_LABEL_VALUE = f"({_QNAME})?"
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE)
_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN)
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's ``validation.RegexError`` (its doubled spaces included)."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    listed = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {listed}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _qualified_name_errors(value: str) -> list[str]:
    """``validation.IsQualifiedName``: an optional DNS-subdomain prefix, ``/``, and a name part."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix.encode()) > 253:
                errs.append("prefix part " + _max_len(253))
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errs.append("prefix part " + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN, "example.com"))
    else:
        return [
            "a qualified name "
            + _regex_error(_QNAME_MSG, _QNAME, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME, "MyName", "my.name", "123-abc"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    """``validation.IsValidLabelValue``."""
    errs: list[str] = []
    if len(value.encode()) > 63:
        errs.append(_max_len(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errs


def _aggregate(errs: list[str]) -> str | None:
    """``field.ErrorList.ToAggregate().Error()``: one error as is, several as ``[a, b]``, duplicates once."""
    unique = list(dict.fromkeys(errs))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _requirement_errors(key: str, operator: str, values: list[str]) -> str | None:
    """``labels.NewRequirement``'s error (``operator`` is a selection operator: ``=``, In, NotIn, ...)."""
    errs: list[str] = []
    key_errs = _qualified_name_errors(key)
    if key_errs:
        errs.append(f"key: Invalid value: {go_quote(key)}: {'; '.join(key_errs)}")
    if operator in ("In", "NotIn") and not values:
        errs.append(
            f"values: Invalid value: {_go_json(values)}: for 'in', 'notin' operators, values set can't be empty"
        )
    if operator in ("Exists", "DoesNotExist") and values:
        errs.append(
            f"values: Invalid value: {_go_json(values)}: values set must be empty for exists and does not exist"
        )
    for i, value in enumerate(values):
        value_errs = _label_value_errors(value)
        if value_errs:
            errs.append(f"values[{i}][{key}]: Invalid value: {go_quote(value)}: {'; '.join(value_errs)}")
    return _aggregate(errs)


def _as_selector_error(sel: LabelSelector, sort: bool) -> str | None:
    """``metav1.LabelSelectorAsSelector``'s error for one selector, or None."""
    for key, value in sorted((sel.match_labels or {}).items()):
        problem = _requirement_errors(key, "=", [value])
        if problem:
            return problem
    for req in sel.match_expressions or ():
        if req.operator not in OPERATORS:
            return f"{go_quote(req.operator)} is not a valid label selector operator"
        problem = _requirement_errors(req.key, req.operator, _values(req, sort))
        if problem:
            return problem
    return None


class SelectorUse(enum.Enum):
    """Where a selector list sits; each place wraps apimachinery's error in MetalLB's own words."""

    PEER_NODES = enum.auto()
    ADVERTISEMENT_NODES = enum.auto()
    ADVERTISEMENT_SERVICES = enum.auto()
    ADVERTISEMENT_PREFERRED_NODES = enum.auto()
    ADVERTISEMENT_POOLS = enum.auto()
    POOL_NAMESPACES = enum.auto()
    POOL_SERVICES = enum.auto()


def syntax_problem(selectors: Sequence[LabelSelector] | None, use: SelectorUse, owner: str) -> str | None:
    """The first selector Kubernetes would not accept, in MetalLB's text for ``use`` (``owner`` names the object)."""
    sort = use is not SelectorUse.ADVERTISEMENT_PREFERRED_NODES
    for sel in selectors or ():
        err = _as_selector_error(sel, sort)
        if err is None:
            continue
        shown = go_selector_value(sel, sort=sort)
        if use is SelectorUse.PEER_NODES:
            return f"{err}\nfailed to convert peer {owner} node selector"
        if use is SelectorUse.ADVERTISEMENT_NODES:
            return f"{err}\ninvalid label selector {shown}\nfailed to parse node selector for {owner}"
        if use is SelectorUse.ADVERTISEMENT_SERVICES:
            return f"invalid service selector {shown}: {err}\nfailed to parse service selector for {owner}"
        if use is SelectorUse.ADVERTISEMENT_PREFERRED_NODES:
            return (
                f"{err}\ninvalid preferred node selector {shown}\nfailed to parse preferred node selectors for {owner}"
            )
        if use is SelectorUse.ADVERTISEMENT_POOLS:
            return f"{err}\ninvalid label selector {shown}"
        if use is SelectorUse.POOL_NAMESPACES:
            # MetalLB passes a pointer here, so fmt calls the generated String().
            return f"{err}\ninvalid namespace label selector {go_selector_string(sel)} in ip pool {owner}"
        return f"{err}\ninvalid service label selector {shown} in ip pool {owner}"
    return None


# --- using selectors ---------------------------------------------------------------------------------


def matching(objects: Sequence[LabeledObject] | None, selectors: Sequence[LabelSelector]) -> frozenset[str] | None:
    """Names selected by any selector; all objects when there are no selectors; None when unknown."""
    if objects is None:
        return None
    if not selectors:
        return frozenset(o.name for o in objects)
    return frozenset(o.name for o in objects if any(selector_matches(s, dict(o.labels)) for s in selectors))


def sorted_selectors(selectors: Sequence[LabelSelector] | None) -> tuple[LabelSelector, ...]:
    return tuple(sorted(selectors or (), key=lambda s: s.canonical()))
