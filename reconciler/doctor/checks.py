"""The doctor's judgements over a ``Snapshot``: pure functions, each returning ``Check`` values. No I/O.

``now`` is passed in (the Lease's freshness and certificate expiry depend on it); probe outcomes (the webhook's
``/readyz``, who answers ARP) arrive as values too, so every check here is tested without a network.
Every failing check says what to do; texts name objects the way ``kubectl`` does.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from crds.config import ClusterResources, Config, LabeledObject, ParseOptions, SecretInfo, parse_config
from crds.objects import load_object
from crds.types import ALL_KINDS, BGPPeer
from reconciler.core.actuation import SERVICE_CONDITION
from reconciler.core.l2 import L2Election
from reconciler.core.nodes import EndpointSliceView, endpoint_slice_view, node_view, slices_by_service
from reconciler.core.services import ServiceView, service_view
from reconciler.core.speaker_status import LABEL_NODE, LABEL_SERVICE_NAME, LABEL_SERVICE_NAMESPACE
from reconciler.doctor.report import Check, Status
from reconciler.doctor.snapshot import (
    CONFIG_KINDS,
    MEMBERLIST_SECRET,
    WEBHOOK_SECRET,
    Listed,
    Snapshot,
    Unreadable,
)

__all__ = [
    "ArpAnswer",
    "WebhookProbe",
    "arp_checks",
    "crd_checks",
    "expected_crds",
    "kube_proxy_check",
    "l2_ips",
    "lease_check",
    "memberlist_check",
    "parse_live_config",
    "service_checks",
    "speaker_checks",
    "webhook_checks",
    "webhook_urls",
]

OK, WARN, FAIL = Status.OK, Status.WARN, Status.FAIL
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def _denied(name: str, u: Unreadable, subject: str = "") -> Check:
    fix = "grant it (docs/doctor.md lists every read doctor makes)" if u.forbidden else "install the CRDs"
    return Check(name, FAIL, u.line(), fix, subject)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


# ---- CRDs ------------------------------------------------------------------------------------------------------


def expected_crds() -> dict[str, list[str]]:
    """CRD name → the versions this pymetallb serves (BGPPeer: v1beta1 and v1beta2)."""
    out: dict[str, list[str]] = {}
    for model in ALL_KINDS:
        out.setdefault(model.api.crd_name, []).append(model.api.version)
    return out


def crd_checks(snap: Snapshot) -> list[Check]:
    problems: list[str] = []
    denied = [v for v in snap.crds.values() if isinstance(v, Unreadable)]
    if denied:
        return [_denied("crds", denied[0])]
    for name, versions in expected_crds().items():
        crd = snap.crds.get(name)
        if not isinstance(crd, dict):
            problems.append(f"{name} is not installed")
            continue
        served = {str(v.get("name")): v for v in (crd.get("spec") or {}).get("versions") or () if v.get("served")}
        missing = [v for v in versions if v not in served]
        if missing:
            problems.append(f"{name} does not serve {', '.join(missing)}")
    peers = snap.crds.get(BGPPeer.api.crd_name)
    if isinstance(peers, dict):
        storage = [str(v.get("name")) for v in (peers.get("spec") or {}).get("versions") or () if v.get("storage")]
        if storage != [BGPPeer.api.version]:
            problems.append(
                f"{BGPPeer.api.crd_name} stores {', '.join(storage) or 'nothing'}, not {BGPPeer.api.version}"
            )
        conversion = (peers.get("spec") or {}).get("conversion") or {}
        if conversion.get("strategy") != "Webhook" or not (conversion.get("webhook") or {}).get("clientConfig"):
            problems.append(f"{BGPPeer.api.crd_name} has no conversion webhook (v1beta1 objects cannot convert)")
    if problems:
        return [
            Check(
                "crds", FAIL, "; ".join(problems), "apply this version's CRDs: kubectl apply -f crds/ (or helm upgrade)"
            )
        ]
    return [
        Check("crds", OK, f"{len(expected_crds())} CRDs installed, served versions and BGPPeer storage as expected")
    ]


# ---- webhook ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookProbe:
    """The outcome of ``GET /readyz`` on an out-of-cluster webhook URL: ``ok`` and what happened."""

    url: str
    ok: bool
    message: str


def _b64(text: Any) -> bytes | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _certs(pem: bytes | None) -> list[x509.Certificate]:
    if not pem:
        return []
    try:
        return list(x509.load_pem_x509_certificates(pem))
    except ValueError:
        return []


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _hosts(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }


def webhook_urls(snap: Snapshot) -> dict[str, bytes | None]:
    """Base URLs (``scheme://host:port``) of out-of-cluster registrations → their CA bundle (PEM)."""
    out: dict[str, bytes | None] = {}
    if isinstance(snap.vwc, dict):
        for hook in snap.vwc.get("webhooks") or ():
            cc = hook.get("clientConfig") or {}
            if cc.get("url"):
                parts = urlsplit(str(cc["url"]))
                out.setdefault(f"{parts.scheme}://{parts.netloc}", _b64(cc.get("caBundle")))
    return out


def _client_configs(snap: Snapshot) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(snap.vwc, dict):
        found += [(str(h.get("name")), h.get("clientConfig") or {}) for h in snap.vwc.get("webhooks") or ()]
    peers = snap.crds.get(BGPPeer.api.crd_name)
    if isinstance(peers, dict):
        conv = (peers.get("spec") or {}).get("conversion") or {}
        if conv.get("strategy") == "Webhook":
            found.append(("BGPPeer conversion", (conv.get("webhook") or {}).get("clientConfig") or {}))
    return found


def _tls_check(snap: Snapshot, now: datetime.datetime) -> Check:
    name = "webhook-tls"
    fix_restart = "restart the webhook (it rewrites Secret metallb-webhook-cert and the CA bundles at start)"
    if isinstance(snap.webhook_secret, Unreadable):
        return _denied(name, snap.webhook_secret)
    if snap.webhook_secret is None:
        return Check(name, FAIL, f"Secret {snap.namespace}/{WEBHOOK_SECRET} is missing", fix_restart)
    data = snap.webhook_secret.get("data") or {}
    served = _certs(_b64(data.get("tls.crt")))
    if not served:
        return Check(name, FAIL, f"Secret {WEBHOOK_SECRET} has no readable tls.crt", fix_restart)
    cert = served[0]
    if cert.not_valid_after_utc <= now:
        return Check(
            name, FAIL, f"the serving certificate expired at {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z", fix_restart
        )
    problems: list[str] = []
    configs = _client_configs(snap)
    for hook, cc in configs:
        bundle = _certs(_b64(cc.get("caBundle")))
        if not bundle:
            problems.append(f"{hook}: no caBundle")
        elif not any(_signed_by(cert, ca) for ca in bundle):
            problems.append(f"{hook}: caBundle does not hold the CA that signed tls.crt")
        want = None
        if isinstance(cc.get("service"), dict):
            svc = cc["service"]
            want = f"{svc.get('name')}.{svc.get('namespace') or 'default'}.svc"
        elif cc.get("url"):
            want = urlsplit(str(cc["url"])).hostname
        if want and want not in _hosts(cert):
            problems.append(f"{hook}: the certificate's SANs do not include {want}")
    if problems:
        shown = sorted(set(problems))
        more = f" (and {len(shown) - 4} more)" if len(shown) > 4 else ""
        return Check(
            name,
            FAIL,
            "; ".join(shown[:4]) + more,
            "the apiserver will refuse the webhook's TLS: " + fix_restart + ", or re-run the chart's CA injection",
        )
    days = (cert.not_valid_after_utc - now).days
    return Check(
        name, OK, f"CA bundle ({len(configs)} client configs) trusts tls.crt; SANs match; expires in {days} days"
    )


def webhook_checks(snap: Snapshot, probes: Sequence[WebhookProbe], now: datetime.datetime) -> list[Check]:
    if isinstance(snap.vwc, Unreadable):
        return [_denied("webhook-config", snap.vwc)]
    if snap.vwc is None:
        return [
            Check(
                "webhook-config",
                FAIL,
                "ValidatingWebhookConfiguration metallb-webhook-configuration is missing: configs go in unchecked",
                "deploy the webhook (helm chart, or `pymetallb webhook --register-url`)",
            )
        ]
    hooks = snap.vwc.get("webhooks") or []
    out = [Check("webhook-config", OK, f"metallb-webhook-configuration present with {len(hooks)} webhooks")]
    out.append(_tls_check(snap, now))
    for p in probes:
        if p.ok:
            out.append(Check("webhook-reachable", OK, f"GET {p.url}/readyz: {p.message}", subject=p.url))
        else:
            out.append(
                Check(
                    "webhook-reachable",
                    FAIL,
                    f"GET {p.url}/readyz: {p.message}",
                    "start the webhook at that address, or fix clientConfig.url (until then, config applies fail)",
                    p.url,
                )
            )
    for key, listed in sorted(snap.webhook_slices.items()):
        if isinstance(listed, Unreadable):
            out.append(_denied("webhook-reachable", listed, key))
            continue
        ready = sum(1 for s in listed for e in endpoint_slice_view(s).endpoints if e.can_serve)
        if ready:
            out.append(Check("webhook-reachable", OK, f"Service {key} has {ready} ready endpoint(s)", subject=key))
        else:
            out.append(
                Check(
                    "webhook-reachable",
                    FAIL,
                    f"Service {key} has no ready endpoints",
                    "check the webhook Deployment's pods (kubectl -n <ns> get pods; logs)",
                    key,
                )
            )
    return out


# ---- controller, speakers, config, memberlist, kube-proxy ------------------------------------------------------


def _time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def lease_check(snap: Snapshot, now: datetime.datetime) -> Check:
    name = "controller-leader"
    if isinstance(snap.lease, Unreadable):
        return _denied(name, snap.lease)
    if snap.lease is None:
        return Check(
            name,
            FAIL,
            f"no Lease {snap.namespace}/pymetallb-controller: no controller has ever led",
            "start the controller (kubectl -n <ns> get deploy; logs); without it no Service gets an IP",
        )
    spec = snap.lease.get("spec") or {}
    holder = str(spec.get("holderIdentity") or "")
    renewed = _time(spec.get("renewTime")) or _time(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 0)
    if not holder or renewed is None:
        return Check(name, FAIL, "the Lease has no holder", "start the controller; check its logs for leader election")
    expires = renewed + datetime.timedelta(seconds=duration)
    age = int((now - renewed).total_seconds())
    if expires < now:
        return Check(
            name,
            FAIL,
            f"Lease held by {holder} is stale: renewed {age}s ago, lease duration {duration}s",
            f"the leader {holder} stopped renewing: check that its pod runs and reaches the apiserver (logs)",
        )
    return Check(name, OK, f"held by {holder}, renewed {age}s ago (duration {duration}s)")


def _tainted_control_plane(obj: Mapping[str, Any]) -> bool:
    taints = (obj.get("spec") or {}).get("taints") or ()
    return any(t.get("key") in CONTROL_PLANE_TAINTS and t.get("effect") == "NoSchedule" for t in taints)


def speaker_checks(snap: Snapshot) -> list[Check]:
    if isinstance(snap.states, Unreadable):
        return [_denied("speaker", snap.states)]
    if isinstance(snap.nodes, Unreadable):
        return [_denied("speaker", snap.nodes)]
    states = {_name(s): s for s in snap.states}
    out: list[Check] = []
    for node in sorted(snap.nodes, key=_name):
        n = _name(node)
        state = states.get(f"speaker-{n}")
        if state is None:
            if _tainted_control_plane(node) or node_view(node).excluded_from_lb:
                out.append(
                    Check("speaker", WARN, "no speaker state (control-plane or excluded node)", "none if intended", n)
                )
                continue
            out.append(
                Check(
                    "speaker",
                    FAIL,
                    f"no ConfigurationState speaker-{n}: no speaker runs on this node (or it cannot write its state)",
                    "check the speaker DaemonSet's pod on this node (nodeSelector, tolerations, crash loop: logs)",
                    n,
                )
            )
            continue
        status = state.get("status") or {}
        result = status.get("result")
        if result == "Valid":
            out.append(Check("speaker", OK, f"speaker-{n} reports Valid", subject=n))
        else:
            summary = str(status.get("errorSummary") or "").replace("\n", "; ")
            out.append(
                Check(
                    "speaker",
                    FAIL,
                    f"speaker-{n} reports {result or 'nothing yet'}" + (f": {summary}" if summary else ""),
                    "fix the configuration errors it lists; the speaker keeps its last good config meanwhile",
                    n,
                )
            )
    if not snap.nodes:
        out.append(Check("speaker", WARN, "the cluster has no Nodes", "none: nothing can announce without Nodes"))
    return out


def parse_live_config(snap: Snapshot) -> tuple[Config | None, list[str], list[str], list[Check]]:
    """(config, errors as ``where: what``, warnings, checks for unreadable inputs) over the live objects."""
    fields: dict[str, list[Any]] = {}
    errors: list[str] = []
    denied: list[Check] = []
    for f, model in CONFIG_KINDS.items():
        listed = snap.config.get(f, [])
        if isinstance(listed, Unreadable):
            denied.append(_denied("config", listed))
            listed = []
        fields[f] = []
        for obj in listed:
            try:
                fields[f].append(load_object(model, obj))
            except ValueError as exc:
                errors.append(f"{model.api.kind}/{_name(obj)}: {exc}")
    nodes = None if isinstance(snap.nodes, Unreadable) else [_labeled(o) for o in snap.nodes]
    namespaces = None if isinstance(snap.namespaces, Unreadable) else [_labeled(o) for o in snap.namespaces]
    secrets: dict[str, SecretInfo] = {}
    if not isinstance(snap.secrets, Unreadable):
        for obj in snap.secrets:
            raw = (obj.get("data") or {}).get("password")
            pw = _b64(raw)
            secrets[_name(obj)] = SecretInfo(
                _name(obj),
                snap.namespace,
                str(obj.get("type") or ""),
                None if pw is None else pw.decode(errors="replace"),
            )
    resources = ClusterResources(**fields, nodes=nodes, namespaces=namespaces, secrets=secrets)
    # Without the Secrets we cannot judge password references: treat them as the webhook does (transient).
    opts = ParseOptions(bgp_mode=None, skip_transient=isinstance(snap.secrets, Unreadable))
    result = parse_config(resources, opts)
    errors += [e.line() for e in result.errors]
    warnings = [w.line() for w in result.warnings]
    return (result.config if not errors else None), errors, warnings, denied


def _labeled(obj: Mapping[str, Any]) -> LabeledObject:
    return LabeledObject(_name(obj), dict((obj.get("metadata") or {}).get("labels") or {}))


def config_checks(
    snap: Snapshot, errors: Sequence[str], warnings: Sequence[str], denied: Sequence[Check]
) -> list[Check]:
    out = list(denied)
    if errors:
        shown = "; ".join(errors[:6]) + (f" (and {len(errors) - 6} more)" if len(errors) > 6 else "")
        out.append(
            Check(
                "config",
                FAIL,
                shown,
                "fix these objects (`pymetallb validate -f` offline); the programs keep their last good config",
            )
        )
    elif warnings:
        out.append(Check("config", WARN, "; ".join(warnings[:6]), "review the warnings"))
    else:
        out.append(Check("config", OK, "parse_config accepts the live objects"))
    if not isinstance(snap.states, Unreadable):
        ctl = next((s for s in snap.states if _name(s) == "controller"), None)
        if ctl is not None and (ctl.get("status") or {}).get("result") == "Invalid":
            summary = str((ctl.get("status") or {}).get("errorSummary") or "").replace("\n", "; ")
            out.append(Check("config", FAIL, f"the controller reports Invalid: {summary}", "fix the objects it names"))
    return out


def memberlist_check(snap: Snapshot) -> Check:
    name = "memberlist-secret"
    if isinstance(snap.memberlist, Unreadable):
        return _denied(name, snap.memberlist)
    if snap.memberlist is None:
        return Check(
            name,
            FAIL,
            f"Secret {snap.namespace}/{MEMBERLIST_SECRET} is missing: speakers cannot join the memberlist",
            "the controller creates it at start (is it running?), or: kubectl -n "
            f"{snap.namespace} create secret generic {MEMBERLIST_SECRET} "
            "--from-literal=secretkey=$(openssl rand -base64 128)",
        )
    return Check(name, OK, f"Secret {snap.namespace}/{MEMBERLIST_SECRET} present")


def kube_proxy_check(snap: Snapshot) -> Check:
    name = "kube-proxy-strictARP"
    cm = snap.kube_proxy
    if isinstance(cm, Unreadable):
        return _denied(name, cm)
    if cm is None:
        return Check(name, OK, "no ConfigMap kube-system/kube-proxy (kube-proxy absent or configured elsewhere)")
    text = str((cm.get("data") or {}).get("config.conf") or "")
    try:
        conf = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        return Check(name, WARN, f"config.conf does not parse: {exc}", "check kube-proxy's configuration by hand")
    conf = conf if isinstance(conf, dict) else {}
    mode = str(conf.get("mode") or "iptables")
    if mode != "ipvs":
        return Check(name, OK, f"kube-proxy mode {mode}: strictARP not needed")
    ipvs = conf.get("ipvs")
    if isinstance(ipvs, dict) and ipvs.get("strictARP") is True:
        return Check(name, OK, "kube-proxy mode ipvs with strictARP: true")
    return Check(
        name,
        FAIL,
        "kube-proxy runs IPVS without ipvs.strictARP: every node answers ARP for every Service IP (MetalLB #153)",
        "set strictARP: kubectl get configmap kube-proxy -n kube-system -o yaml | sed -e "
        '"s/strictARP: false/strictARP: true/" | kubectl apply -f - -n kube-system; then restart kube-proxy',
    )


# ---- Services ------------------------------------------------------------------------------------------------


def _pending_reason(obj: Mapping[str, Any]) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(c, dict) and c.get("type") == SERVICE_CONDITION and c.get("status") == "False":
            return str(c.get("message") or c.get("reason") or "")
    return None


def _statuses_by_service(listed: Listed) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if isinstance(listed, Unreadable):
        return out
    for s in listed:
        labels = (s.get("metadata") or {}).get("labels") or {}
        status = s.get("status") or {}
        ns = labels.get(LABEL_SERVICE_NAMESPACE) or status.get("serviceNamespace")
        name = labels.get(LABEL_SERVICE_NAME) or status.get("serviceName")
        if ns and name:
            out.setdefault(f"{ns}/{name}", []).append(s)
    return out


def _status_node(s: Mapping[str, Any]) -> str:
    return str(((s.get("metadata") or {}).get("labels") or {}).get(LABEL_NODE) or (s.get("status") or {}).get("node"))


def _ips(view: ServiceView) -> str:
    from crds.addresses import format_ip

    return ", ".join(format_ip(f, v) for f, v in view.current_ips)


def l2_ips(snap: Snapshot, config: Config | None, selected: set[str] | None, lb_class: str | None) -> list[str]:
    """The ingress IPs of our LoadBalancer Services whose pool has an L2Advertisement (the ``--arp`` targets)."""
    from crds.addresses import format_ip
    from reconciler.core.announcing import PoolIndex

    if config is None or isinstance(snap.services, Unreadable):
        return []
    index = PoolIndex(config.pools)
    out: list[str] = []
    for obj in snap.services:
        view = service_view(obj)
        if not view.is_load_balancer or not view.is_ours(lb_class) or (selected and view.key not in selected):
            continue
        for ip in view.current_ips:
            pool = index.pool_of(ip)
            if pool and config.pools[pool].l2_advertisements:
                out.append(format_ip(*ip))
    return sorted(set(out))


def service_checks(
    snap: Snapshot, config: Config | None, *, selected: set[str] | None = None, lb_class: str | None = None
) -> list[Check]:
    if isinstance(snap.services, Unreadable):
        return [_denied("service", snap.services)]
    out: list[Check] = []
    views = {v.key: (v, o) for o in snap.services if (v := service_view(o)).is_load_balancer}
    if selected:
        for key in sorted(selected - views.keys()):
            out.append(Check("service", FAIL, "no LoadBalancer Service by this name", "check the name (ns/name)", key))
        views = {k: v for k, v in views.items() if k in selected}
    slices: dict[str, tuple[EndpointSliceView, ...]] = {}
    if isinstance(snap.slices, Unreadable):
        out.append(_denied("service-endpoints", snap.slices))
    else:
        slices = slices_by_service(endpoint_slice_view(s) for s in snap.slices)
    l2 = _statuses_by_service(snap.l2_statuses)
    bgp = _statuses_by_service(snap.bgp_statuses)
    for u in (snap.l2_statuses, snap.bgp_statuses):
        if isinstance(u, Unreadable):
            out.append(_denied("service-announce", u))
    election = None
    if config is not None and not isinstance(snap.nodes, Unreadable):
        election = L2Election(config, {_name(n): node_view(n) for n in snap.nodes}, None, lb_class=lb_class)
    from reconciler.core.announcing import PoolIndex

    index = PoolIndex(config.pools) if config is not None else None
    for key in sorted(views):
        view, obj = views[key]
        out += _one_service(
            view, obj, slices.get(key, ()), l2.get(key, []), bgp.get(key, []), config, index, election, lb_class
        )
    if not views and not selected:
        out.append(Check("service", OK, "no LoadBalancer Services"))
    return out


def _one_service(
    view: ServiceView,
    obj: Mapping[str, Any],
    slices: Sequence[EndpointSliceView],
    l2: list[dict[str, Any]],
    bgp: list[dict[str, Any]],
    config: Config | None,
    index: Any,
    election: L2Election | None,
    lb_class: str | None,
) -> list[Check]:
    key = view.key
    if not view.is_ours(lb_class):
        return [
            Check(
                "service",
                WARN,
                f"loadBalancerClass {view.lb_class or '(none)'} is not ours ({lb_class or 'none'}): excluded",
                "drop spec.loadBalancerClass, or run pymetallb with --lb-class matching it",
                key,
            )
        ]
    if not view.current_ips:
        reason = _pending_reason(obj)
        details = f"pending: {reason}" if reason else "pending: no IP assigned and no reason from the controller"
        fix = (
            "free or add addresses in a pool that selects it, or fix its annotations"
            if reason
            else ("check that the controller runs and leads (see controller-leader)")
        )
        return [Check("service", FAIL, details, fix, key)]
    out = [Check("service", OK, f"IP {_ips(view)}", subject=key)]
    if not any(e.can_serve for s in slices for e in s.endpoints):
        out.append(
            Check(
                "service-endpoints",
                FAIL,
                "no serving endpoints: MetalLB never announces a Service without them",
                "make its pods Ready and its selector match them (kubectl get endpointslices -l "
                f"kubernetes.io/service-name={view.name} -n {view.namespace})",
                key,
            )
        )
        return out
    if config is None or index is None:
        return out
    pool = index.pool_of_all(view.current_ips)
    if pool is None:
        out.append(
            Check("service-announce", FAIL, "its IPs are in no pool of the config", "reassign or add a pool", key)
        )
        return out
    p = config.pools[pool]
    if p.l2_advertisements:
        out.append(_l2_check(view, slices, l2, election))
    if p.bgp_advertisements:
        out.append(_bgp_check(view, bgp))
    if not p.l2_advertisements and not p.bgp_advertisements:
        out.append(
            Check(
                "service-announce",
                FAIL,
                f"pool {pool} has no L2Advertisement or BGPAdvertisement: nobody announces it",
                f"create an L2Advertisement or BGPAdvertisement for pool {pool}",
                key,
            )
        )
    return out


def _l2_check(
    view: ServiceView, slices: Sequence[EndpointSliceView], statuses: list[dict[str, Any]], election: L2Election | None
) -> Check:
    key = view.key
    nodes = sorted({_status_node(s) for s in statuses})
    expected = election.owner(view, slices) if election is not None else None
    want = expected.owner if expected is not None else None
    if len(nodes) > 1:
        return Check(
            "service-l2",
            WARN,
            f"{len(nodes)} nodes claim it: {', '.join(nodes)} (the election says {want or 'none'})",
            "speakers disagree: check membership (memberlist Secret, speaker logs); --arp shows who answers",
            key,
        )
    if not nodes:
        why = (
            f"the election says {want}"
            if want
            else f"the election says nobody ({expected.reason if expected else '?'})"
        )
        return Check(
            "service-l2",
            FAIL,
            f"no node announces it ({why})",
            "check the speakers (speaker checks above) and the L2Advertisement's nodeSelectors/interfaces",
            key,
        )
    if want is not None and nodes[0] != want:
        return Check(
            "service-l2",
            WARN,
            f"announced by {nodes[0]}, but the election over the live Nodes says {want}",
            "a node may be down for memberlist, or a failover is under way; re-run in a minute",
            key,
        )
    return Check("service-l2", OK, f"announced from {nodes[0]}", subject=key)


def _bgp_check(view: ServiceView, statuses: list[dict[str, Any]]) -> Check:
    if not statuses:
        return Check(
            "service-bgp",
            FAIL,
            "no node advertises it over BGP (no ServiceBGPStatus)",
            "check the BGP sessions (speaker logs, BGPPeer nodeSelectors, the BGPAdvertisement)",
            view.key,
        )
    parts = []
    for s in sorted(statuses, key=_status_node):
        peers = (s.get("status") or {}).get("peers") or []
        parts.append(f"{_status_node(s)} → {', '.join(peers) or 'no peers'}")
    return Check("service-bgp", OK, "advertised: " + "; ".join(parts), subject=view.key)


# ---- ARP/NDP -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArpAnswer:
    """Who answered ARP (IPv4) or NDP (IPv6) for ``ip`` on ``interface``; ``error`` when the probe could not run."""

    ip: str
    interface: str
    macs: tuple[str, ...] = ()
    error: str = ""


def arp_checks(answers: Sequence[ArpAnswer]) -> list[Check]:
    out = []
    for a in answers:
        proto = "NDP" if ":" in a.ip else "ARP"
        if a.error:
            out.append(Check("arp", FAIL, f"{proto} probe failed: {a.error}", "run as root on a host on the LAN", a.ip))
        elif not a.macs:
            out.append(
                Check(
                    "arp",
                    FAIL,
                    f"nobody answers {proto} on {a.interface}",
                    "check the announcing node's speaker and that this host shares its L2 segment",
                    a.ip,
                )
            )
        elif len(a.macs) > 1:
            out.append(
                Check(
                    "arp",
                    FAIL,
                    f"{len(a.macs)} MACs answer {proto} on {a.interface}: {', '.join(a.macs)} (duplicate announcers)",
                    "find the hosts with these MACs: another speaker, kube-proxy IPVS without strictARP, or a static "
                    "address on some host",
                    a.ip,
                )
            )
        else:
            out.append(Check("arp", OK, f"{a.macs[0]} answers {proto} on {a.interface}", subject=a.ip))
    return out
