"""The nine ``metallb.io`` kinds as pydantic models: the single source of truth of the API.

Field names, defaults, bounds, enums and optionality follow MetalLB exactly (upstream ``api/v1beta1``,
``api/v1beta2``). The CRD manifests in ``crds/*.yaml`` are generated from these classes
(``crds.schema``); a test regenerates them and diffs. Per-field schema extras that pydantic cannot
express (CEL rules, integer formats, list types) sit in ``json_schema_extra`` next to the field.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from .meta import ApiInfo, KubeModel, LabelSelector, PrinterColumn, Resource

__all__ = [
    "ALL_KINDS",
    "BFDProfile",
    "BFDProfileSpec",
    "BGPAdvertisement",
    "BGPAdvertisementSpec",
    "BGPPeer",
    "BGPPeerSpec",
    "BGPPeerV1beta1",
    "BGPPeerV1beta1Spec",
    "Community",
    "CommunityAlias",
    "CommunitySpec",
    "Condition",
    "ConfigurationState",
    "ConfigurationStateStatus",
    "IPAddressPool",
    "IPAddressPoolSpec",
    "IPAddressPoolStatus",
    "L2Advertisement",
    "L2AdvertisementSpec",
    "NodeSelectorV1beta1",
    "PreferredNodeSelector",
    "SecretReference",
    "ServiceAllocation",
    "ServiceBGPStatus",
    "ServiceL2Status",
    "kind_for",
]

_INT64: JsonDict = {"format": "int64"}
_INT32: JsonDict = {"format": "int32"}
_IMMUTABLE: JsonDict = {"x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "Value is immutable"}]}
_ASN_MAX = 4294967295
_AS_PATH_PREPEND_MAX = 254
"""One AS_SEQUENCE segment holds 255 ASNs (RFC 4271 §4.3, a one-octet count): our own ASN plus 254 prepends."""


class EmptyObject(KubeModel):
    """An object with no fields (the status of most config kinds, the spec of the status kinds)."""


# --- IPAddressPool -----------------------------------------------------------------------------------


class ServiceAllocation(KubeModel):
    """Restricts a pool to some namespaces and Services; pools with the lowest non-zero priority win."""

    priority: int | None = Field(
        default=None, description="Lower values are tried first; pools without priority come last."
    )
    namespaces: tuple[str, ...] | None = Field(default=None, description="Namespaces that may use the pool.")
    namespace_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="namespaceSelectors", description="Selectors of namespaces that may use the pool."
    )
    service_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="serviceSelectors", description="Selectors of Services that may use the pool."
    )


class IPAddressPoolSpec(KubeModel):
    """The addresses of a pool and how they are handed out."""

    addresses: tuple[str, ...] = Field(
        description="CIDRs (192.168.1.0/24, fc00::/124) or start-end ranges the pool hands out."
    )
    auto_assign: bool = Field(
        default=True,
        alias="autoAssign",
        description="When false the pool is used only by Services that ask for it or for one of its IPs.",
    )
    avoid_buggy_ips: bool = Field(
        default=False,
        alias="avoidBuggyIPs",
        description="Never hand out IPv4 addresses ending in .0 or .255.",
    )
    service_allocation: ServiceAllocation | None = Field(
        default=None, alias="serviceAllocation", description="Which namespaces and Services may use the pool."
    )


class IPAddressPoolStatus(KubeModel):
    """Address counts, maintained by the controller. A shared IP counts once."""

    assigned_ipv4: int = Field(alias="assignedIPv4", description="IPv4 addresses in use.", json_schema_extra=_INT64)
    assigned_ipv6: int = Field(alias="assignedIPv6", description="IPv6 addresses in use.", json_schema_extra=_INT64)
    available_ipv4: int = Field(
        alias="availableIPv4", description="IPv4 addresses still free.", json_schema_extra=_INT64
    )
    available_ipv6: int = Field(
        alias="availableIPv6", description="IPv6 addresses still free.", json_schema_extra=_INT64
    )


class IPAddressPool(Resource):
    """A pool of IP addresses that LoadBalancer Services are given addresses from."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="IPAddressPool",
        plural="ipaddresspools",
        version="v1beta1",
        printer_columns=(
            PrinterColumn("Auto Assign", "boolean", ".spec.autoAssign"),
            PrinterColumn("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs"),
            PrinterColumn("Addresses", "string", ".spec.addresses"),
        ),
    )
    spec: IPAddressPoolSpec
    status: IPAddressPoolStatus | None = None


# --- L2Advertisement ---------------------------------------------------------------------------------


class PreferredNodeSelector(KubeModel):
    """A weighted node preference for the layer 2 announcer election."""

    weight: int = Field(ge=1, le=100, description="Added to a node's score when it matches.", json_schema_extra=_INT32)
    preference: LabelSelector = Field(description="The nodes this weight applies to.")


class L2AdvertisementSpec(KubeModel):
    """Which pools are announced with ARP/NDP, from which nodes and on which interfaces."""

    ip_address_pools: tuple[str, ...] | None = Field(
        default=None,
        alias="ipAddressPools",
        description="Pools by name; with no pools and no selectors, all pools.",
    )
    ip_address_pool_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="ipAddressPoolSelectors", description="Pools by label."
    )
    node_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="nodeSelectors", description="Nodes that may announce; empty means all nodes."
    )
    interfaces: tuple[str, ...] | None = Field(default=None, description="Interfaces to answer on; empty means all.")
    service_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="serviceSelectors", description="Services this advertisement applies to."
    )
    preferred_node_selectors: tuple[PreferredNodeSelector, ...] | None = Field(
        default=None, alias="preferredNodeSelectors", description="Weighted preferences among eligible nodes."
    )


class L2Advertisement(Resource):
    """Announce the IPs of some pools on layer 2 (ARP for IPv4, NDP for IPv6)."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="L2Advertisement",
        plural="l2advertisements",
        version="v1beta1",
        printer_columns=(
            PrinterColumn("IPAddressPools", "string", ".spec.ipAddressPools"),
            PrinterColumn("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors"),
            PrinterColumn("Interfaces", "string", ".spec.interfaces"),
            PrinterColumn("Node Selectors", "string", ".spec.nodeSelectors", priority=10),
        ),
    )
    spec: L2AdvertisementSpec = Field(default_factory=L2AdvertisementSpec)
    status: EmptyObject | None = None


# --- BGPAdvertisement --------------------------------------------------------------------------------

_AGGREGATION_CEL: JsonDict = {
    "rule": (
        "!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || "
        "((!has(self.aggregationLength) || self.aggregationLength == 32) && "
        "(!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))"
    ),
    "message": (
        "serviceSelectors and aggregationLength are mutually exclusive, can only be used together with "
        "default aggregationLength (32) and aggregationLengthV6 (128)"
    ),
}


class BGPAdvertisementSpec(KubeModel):
    """How the IPs of some pools are announced to BGP peers."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_AGGREGATION_CEL]})

    aggregation_length: int = Field(
        default=32,
        ge=1,
        alias="aggregationLength",
        description="Prefix length IPv4 addresses are rolled up to before they are announced.",
        json_schema_extra=_INT32,
    )
    aggregation_length_v6: int = Field(
        default=128,
        alias="aggregationLengthV6",
        description="Prefix length IPv6 addresses are rolled up to before they are announced.",
        json_schema_extra=_INT32,
    )
    local_pref: int | None = Field(
        default=None,
        ge=0,
        le=_ASN_MAX,
        alias="localPref",
        description="The LOCAL_PREF attribute (iBGP only).",
        json_schema_extra=_INT64,
    )
    communities: tuple[str, ...] | None = Field(
        default=None, description="Communities: A:B, large:A:B:C, or the name of a Community alias."
    )
    as_path_prepend: int | None = Field(
        default=None,
        ge=0,
        le=_AS_PATH_PREPEND_MAX,
        alias="asPathPrepend",
        description="How many extra times the speaker's own ASN is prepended to the AS_PATH of these routes.",
        json_schema_extra=_INT32,
    )
    ip_address_pools: tuple[str, ...] | None = Field(
        default=None,
        alias="ipAddressPools",
        description="Pools by name; with no pools and no selectors, all pools.",
    )
    ip_address_pool_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="ipAddressPoolSelectors", description="Pools by label."
    )
    node_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="nodeSelectors", description="Nodes announcing the routes; empty means all."
    )
    peers: tuple[str, ...] | None = Field(default=None, description="BGPPeer names; empty means all peers.")
    service_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="serviceSelectors", description="Services this advertisement applies to."
    )


class BGPAdvertisement(Resource):
    """Announce the IPs of some pools to BGP peers."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="BGPAdvertisement",
        plural="bgpadvertisements",
        version="v1beta1",
        printer_columns=(
            PrinterColumn("IPAddressPools", "string", ".spec.ipAddressPools"),
            PrinterColumn("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors"),
            PrinterColumn("Peers", "string", ".spec.peers"),
            PrinterColumn("Node Selectors", "string", ".spec.nodeSelectors", priority=10),
        ),
    )
    spec: BGPAdvertisementSpec = Field(default_factory=BGPAdvertisementSpec)
    status: EmptyObject | None = None


# --- BGPPeer -----------------------------------------------------------------------------------------

_PEER_COLUMNS = (
    PrinterColumn("Address", "string", ".spec.peerAddress"),
    PrinterColumn("ASN", "string", ".spec.peerASN"),
    PrinterColumn("BFD Profile", "string", ".spec.bfdProfile"),
    PrinterColumn("Multi Hops", "string", ".spec.ebgpMultiHop"),
)

_CONNECT_TIME_CEL: JsonDict = {
    "x-kubernetes-validations": [
        {
            "rule": "duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535",
            "message": "connect time should be between 1 seconds to 65535",
        },
        {
            "rule": "duration(self).getMilliseconds() % 1000 == 0",
            "message": "connect time should contain a whole number of seconds",
        },
    ]
}


class SecretReference(KubeModel):
    """A Secret by name and namespace."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-map-type": "atomic"})

    name: str | None = Field(default=None, description="Name of the Secret.")
    namespace: str | None = Field(default=None, description="Namespace of the Secret.")


class BGPPeerSpec(KubeModel):
    """A BGP session to a router (v1beta2, the stored version)."""

    my_asn: int = Field(
        ge=0, le=_ASN_MAX, alias="myASN", description="AS number used on our side.", json_schema_extra=_INT64
    )
    peer_asn: int | None = Field(
        default=None,
        ge=0,
        le=_ASN_MAX,
        alias="peerASN",
        description="The peer's AS number.",
        json_schema_extra=_INT64,
    )
    local_asn: int | None = Field(
        default=None,
        ge=1,
        le=_ASN_MAX,
        alias="localASN",
        description="AS number presented to the peer instead of myASN (FRR only).",
        json_schema_extra=_INT64,
    )
    dynamic_asn: Literal["internal", "external"] | None = Field(
        default=None, alias="dynamicASN", description="Accept any internal or external peer ASN (FRR only)."
    )
    peer_address: str | None = Field(default=None, alias="peerAddress", description="The peer's IP address.")
    interface: str | None = Field(default=None, description="Interface for unnumbered BGP (FRR only).")
    source_address: str | None = Field(
        default=None, alias="sourceAddress", description="Local address to connect from."
    )
    peer_port: int = Field(
        default=179,
        ge=1,
        le=16384,
        alias="peerPort",
        description="The peer's TCP port.",
        json_schema_extra=_INT32,
    )
    hold_time: str | None = Field(default=None, alias="holdTime", description="Requested hold time (RFC 4271).")
    keepalive_time: str | None = Field(
        default=None, alias="keepaliveTime", description="Keepalive interval (FRR only)."
    )
    connect_time: str | None = Field(
        default=None,
        alias="connectTime",
        description="Time between connection attempts (FRR only).",
        json_schema_extra=_CONNECT_TIME_CEL,
    )
    router_id: str | None = Field(default=None, alias="routerID", description="BGP router ID to advertise.")
    node_selectors: tuple[LabelSelector, ...] | None = Field(
        default=None, alias="nodeSelectors", description="Nodes that open this session; empty means all."
    )
    password: str | None = Field(default=None, description="TCP MD5 password, in clear text.")
    password_secret: SecretReference | None = Field(
        default=None,
        alias="passwordSecret",
        description="A kubernetes.io/basic-auth Secret in the MetalLB namespace holding the password.",
    )
    bfd_profile: str | None = Field(default=None, alias="bfdProfile", description="BFDProfile name (FRR only).")
    enable_graceful_restart: bool | None = Field(
        default=None,
        alias="enableGracefulRestart",
        description="BGP graceful restart (FRR only); cannot change after creation.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "EnableGracefulRestart cannot be changed after creation",
                }
            ]
        },
    )
    ebgp_multi_hop: bool | None = Field(
        default=None, alias="ebgpMultiHop", description="Allow an eBGP peer more than one hop away."
    )
    vrf: str | None = Field(default=None, description="VRF the session runs in (FRR only).")
    disable_mp: bool = Field(default=False, alias="disableMP", description="Deprecated, has no effect.")
    dual_stack_address_family: bool = Field(
        default=False,
        alias="dualStackAddressFamily",
        description="Carry both address families on this session (FRR only).",
    )


class BGPPeer(Resource):
    """A BGP router to announce Service IPs to (v1beta2, stored)."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="BGPPeer", plural="bgppeers", version="v1beta2", printer_columns=_PEER_COLUMNS
    )
    spec: BGPPeerSpec
    status: EmptyObject | None = None


class NodeSelectorRequirementV1beta1(KubeModel):
    """v1beta1's own selector requirement: values are required and non-empty."""

    key: str
    operator: str
    values: tuple[str, ...] = Field(min_length=1)


class NodeSelectorV1beta1(KubeModel):
    """v1beta1's own node selector type."""

    match_labels: dict[str, str] | None = Field(default=None, alias="matchLabels")
    match_expressions: tuple[NodeSelectorRequirementV1beta1, ...] | None = Field(default=None, alias="matchExpressions")


class BGPPeerV1beta1Spec(KubeModel):
    """BGPPeer v1beta1 (served, deprecated)."""

    my_asn: int = Field(ge=0, le=_ASN_MAX, alias="myASN", json_schema_extra=_INT64)
    peer_asn: int = Field(ge=0, le=_ASN_MAX, alias="peerASN", json_schema_extra=_INT64)
    peer_address: str = Field(alias="peerAddress")
    source_address: str | None = Field(default=None, alias="sourceAddress")
    peer_port: int | None = Field(default=None, ge=0, le=16384, alias="peerPort", json_schema_extra=_INT32)
    hold_time: str | None = Field(default=None, alias="holdTime")
    keepalive_time: str | None = Field(default=None, alias="keepaliveTime")
    router_id: str | None = Field(default=None, alias="routerID")
    node_selectors: tuple[NodeSelectorV1beta1, ...] | None = Field(default=None, alias="nodeSelectors")
    password: str | None = None
    bfd_profile: str | None = Field(default=None, alias="bfdProfile")
    ebgp_multi_hop: bool | None = Field(default=None, alias="ebgpMultiHop")


class BGPPeerV1beta1(Resource):
    """A BGP router, in the deprecated v1beta1 shape. Converted to v1beta2 by ``crds.conversion``."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="BGPPeer",
        plural="bgppeers",
        version="v1beta1",
        storage=False,
        deprecated=True,
        deprecation_warning="v1beta1 is deprecated, please use v1beta2",
        printer_columns=_PEER_COLUMNS,
    )
    spec: BGPPeerV1beta1Spec
    status: EmptyObject | None = None


# --- Community ---------------------------------------------------------------------------------------


class CommunityAlias(KubeModel):
    """A name for a BGP community value."""

    name: str | None = Field(default=None, description="The alias, usable in BGPAdvertisement communities.")
    value: str | None = Field(default=None, description="A:B (two 16-bit numbers) or large:A:B:C (three 32-bit).")


class CommunitySpec(KubeModel):
    """Community aliases. Alias names are global across all Community objects."""

    communities: tuple[CommunityAlias, ...] | None = None


class Community(Resource):
    """Named BGP communities."""

    api: ClassVar[ApiInfo] = ApiInfo(kind="Community", plural="communities", version="v1beta1")
    spec: CommunitySpec = Field(default_factory=CommunitySpec)
    status: EmptyObject | None = None


# --- BFDProfile --------------------------------------------------------------------------------------


class BFDProfileSpec(KubeModel):
    """BFD session parameters (FRR backends only)."""

    receive_interval: int | None = Field(
        default=None,
        ge=10,
        le=60000,
        alias="receiveInterval",
        description="Milliseconds.",
        json_schema_extra=_INT32,
    )
    transmit_interval: int | None = Field(
        default=None,
        ge=10,
        le=60000,
        alias="transmitInterval",
        description="Milliseconds.",
        json_schema_extra=_INT32,
    )
    detect_multiplier: int | None = Field(
        default=None,
        ge=2,
        le=255,
        alias="detectMultiplier",
        description="Lost packets before down.",
        json_schema_extra=_INT32,
    )
    echo_interval: int | None = Field(
        default=None,
        ge=10,
        le=60000,
        alias="echoInterval",
        description="Milliseconds.",
        json_schema_extra=_INT32,
    )
    echo_mode: bool | None = Field(default=None, alias="echoMode", description="Enable echo packets.")
    passive_mode: bool | None = Field(default=None, alias="passiveMode", description="Wait for the peer to start.")
    minimum_ttl: int | None = Field(
        default=None,
        ge=1,
        le=254,
        alias="minimumTtl",
        description="Minimum expected TTL (multihop).",
        json_schema_extra=_INT32,
    )


class BFDProfile(Resource):
    """A named set of BFD parameters, referenced by BGPPeers."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="BFDProfile",
        plural="bfdprofiles",
        version="v1beta1",
        printer_columns=(
            PrinterColumn("Passive Mode", "boolean", ".spec.passiveMode"),
            PrinterColumn("Transmit Interval", "integer", ".spec.transmitInterval"),
            PrinterColumn("Receive Interval", "integer", ".spec.receiveInterval"),
            PrinterColumn("Multiplier", "integer", ".spec.detectMultiplier"),
        ),
    )
    spec: BFDProfileSpec = Field(default_factory=BFDProfileSpec)
    status: EmptyObject | None = None


# --- status kinds ------------------------------------------------------------------------------------


class InterfaceInfo(KubeModel):
    """An interface a Service IP is announced on."""

    name: str | None = None


class _ServiceStatusIdentity(KubeModel):
    """The node and Service a status object is about; set once, immutable (CEL)."""

    node: str | None = Field(default=None, description="The node.", json_schema_extra=_IMMUTABLE)
    service_name: str | None = Field(default=None, alias="serviceName", json_schema_extra=_IMMUTABLE)
    service_namespace: str | None = Field(default=None, alias="serviceNamespace", json_schema_extra=_IMMUTABLE)


class ServiceL2StatusStatus(_ServiceStatusIdentity):
    """Where a Service's IP is announced on layer 2."""

    interfaces: tuple[InterfaceInfo, ...] | None = Field(default=None, description="Interfaces answering ARP/NDP.")


class ServiceL2Status(Resource):
    """Written by the speaker that announces a Service on layer 2."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="ServiceL2Status",
        plural="servicel2statuses",
        version="v1beta1",
        printer_columns=(
            PrinterColumn("Allocated Node", "string", ".status.node"),
            PrinterColumn("Service Name", "string", ".status.serviceName"),
            PrinterColumn("Service Namespace", "string", ".status.serviceNamespace"),
        ),
    )
    spec: EmptyObject | None = None
    status: ServiceL2StatusStatus | None = None


class ServiceBGPStatusStatus(_ServiceStatusIdentity):
    """Which peers a node advertises a Service to."""

    peers: tuple[str, ...] | None = Field(default=None, description="BGPPeer names the Service is advertised to.")


class ServiceBGPStatus(Resource):
    """Written by each speaker that advertises a Service over BGP."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="ServiceBGPStatus",
        plural="servicebgpstatuses",
        version="v1beta1",
        printer_columns=(
            PrinterColumn("Node", "string", ".status.node"),
            PrinterColumn("Service Name", "string", ".status.serviceName"),
            PrinterColumn("Service Namespace", "string", ".status.serviceNamespace"),
        ),
    )
    spec: EmptyObject | None = None
    status: ServiceBGPStatusStatus | None = None


class Condition(KubeModel):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(min_length=1, max_length=1024)
    message: str = Field(max_length=32768)
    last_transition_time: str = Field(alias="lastTransitionTime", json_schema_extra={"format": "date-time"})
    observed_generation: int | None = Field(default=None, ge=0, alias="observedGeneration", json_schema_extra=_INT64)


class ConfigurationStateStatus(KubeModel):
    """Whether a component accepted the configuration, and why not."""

    result: Literal["Valid", "Invalid", "Unknown"] | None = Field(default=None, description="The overall verdict.")
    error_summary: str | None = Field(default=None, alias="errorSummary", description="Errors, one per line.")
    conditions: tuple[Condition, ...] | None = Field(
        default=None,
        description="One condition per reconciler.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


class ConfigurationState(Resource):
    """A component's view of the configuration: ``controller`` and ``speaker-<node>``."""

    api: ClassVar[ApiInfo] = ApiInfo(
        kind="ConfigurationState",
        plural="configurationstates",
        version="v1beta1",
        printer_columns=(
            PrinterColumn("Result", "string", ".status.result"),
            PrinterColumn("ErrorSummary", "string", ".status.errorSummary"),
            PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
        ),
    )
    status: ConfigurationStateStatus | None = None


ALL_KINDS: tuple[type[Resource], ...] = (
    IPAddressPool,
    L2Advertisement,
    BGPAdvertisement,
    BGPPeer,
    BGPPeerV1beta1,
    Community,
    BFDProfile,
    ServiceL2Status,
    ServiceBGPStatus,
    ConfigurationState,
)

_BY_TYPE: dict[tuple[str, str], type[Resource]] = {(k.api.api_version, k.api.kind): k for k in ALL_KINDS}


def kind_for(api_version: str, kind: str) -> type[Resource] | None:
    """The model class for an apiVersion and kind, or None when it is not a metallb.io kind we know."""
    return _BY_TYPE.get((api_version, kind))
