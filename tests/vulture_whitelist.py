"""Names vulture reports as unused that are used, each with the reason (`make deadcode` passes this file to vulture).

Reviewed by hand: add a name only with its reason, and prefer deleting dead code to listing it here. Vulture
scans the product and the tests together, so a member the tests use is not reported.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# --- pydantic models: wire fields of the Kubernetes API, read and written by (de)serialisation, not by name ---
_.block_owner_deletion  # crds/meta.py OwnerReference.blockOwnerDeletion
_.generate_name  # crds/meta.py ObjectMeta.generateName
_.generation  # crds/meta.py ObjectMeta.generation
_.creation_timestamp  # crds/meta.py ObjectMeta.creationTimestamp
_.deletion_timestamp  # crds/meta.py ObjectMeta.deletionTimestamp
_.owner_references  # crds/meta.py ObjectMeta.ownerReferences
_.finalizers  # crds/meta.py ObjectMeta.finalizers
_._fill_type_meta  # crds/meta.py: a pydantic model_validator, called by pydantic
_.service_namespace  # crds/types.py ServiceL2Status/ServiceBGPStatus .status.serviceNamespace
_.last_transition_time  # crds/types.py Condition.lastTransitionTime
_.observed_generation  # crds/types.py Condition.observedGeneration
_.error_summary  # crds/types.py ConfigurationState .status.errorSummary

# --- enum members and flag constants: the upstream or protocol vocabulary, kept whole on purpose ---
_.INTERNAL_ERROR  # reconciler/core/announcing.py: MetalLB's speaker reasons (internalError)
_.LOAD_BALANCER_IP_CHANGED  # reconciler/core/announcing.py: MetalLB's speaker reasons (loadBalancerIPChanged)
_.VLAN  # speaker/l2/codec/ethernet.py EtherType 0x8100 (IEEE 802.1Q): a tagged frame is named, never decoded
_.TCP  # speaker/l2/codec/ipv4.py IP protocol numbers (IANA; TCP is RFC 9293)
_.DEST_UNREACHABLE  # speaker/l2/codec/ipv4.py and ipv6.py ICMP types (RFC 792, RFC 4443)
_.FLAG_DF  # speaker/l2/codec/ipv4.py: the Don't Fragment bit beside FLAG_MF (RFC 791 section 3.1)
_.ROUTER_SOLICITATION  # speaker/l2/codec/ipv6.py ICMPv6 types (RFC 4861 section 4)
_.ROUTER_ADVERTISEMENT  # speaker/l2/codec/ipv6.py ICMPv6 types (RFC 4861 section 4)
_.PREFIX_INFO  # speaker/l2/codec/ipv6.py NDP option types (RFC 4861 section 4.6)
_.REDIRECTED_HEADER  # speaker/l2/codec/ipv6.py NDP option types (RFC 4861 section 4.6)
_.MTU  # speaker/l2/codec/ipv6.py NDP option types (RFC 4861 section 4.6)

# --- program-facing API whose callers are being integrated now (the speaker program, issue 9) ---
_.add_liveness_check  # reconciler/runtime/httpserver.py: /healthz checks, the counterpart of add_readiness_check

# --- protocol vocabularies: every code point of the RFC's table is named, used or not, so logs and decoders
# print names (BFD RFC 5880 sections 4.1 and 4.2; BGP RFC 4271 section 4.5 and RFC 4486; RFC 2918/7313)
_.ECHO_FUNCTION_FAILED  # speaker/bfd/packet.py Diagnostic
_.FORWARDING_PLANE_RESET
_.PATH_DOWN
_.CONCATENATED_PATH_DOWN
_.REVERSE_CONCATENATED_PATH_DOWN
_.AuthType  # speaker/bfd/packet.py: the auth section's types (decoded, never accepted)
_.RESERVED
_.SIMPLE_PASSWORD
_.KEYED_MD5
_.METICULOUS_KEYED_MD5
_.KEYED_SHA1
_.METICULOUS_KEYED_SHA1
_.INVALID_NEXT_HOP_ATTRIBUTE  # speaker/bgp/codes.py UPDATE message error subcodes
_.UNSPECIFIED  # speaker/bgp/codes.py Cease subcodes (RFC 4486)
_.MAXIMUM_NUMBER_OF_PREFIXES_REACHED
_.PEER_DECONFIGURED
_.CONNECTION_REJECTED
_.OTHER_CONFIGURATION_CHANGE
_.CONNECTION_COLLISION_RESOLUTION
_.OUT_OF_RESOURCES
_.HARD_RESET
_.ENHANCED_ROUTE_REFRESH  # speaker/bgp/constants.py capability codes
_.PARTIAL  # speaker/bgp/constants.py attribute flags
_.EGP  # speaker/bgp/constants.py ORIGIN values
_.INCOMPLETE
_.AS_SET  # speaker/bgp/constants.py AS_PATH segment types
_.AS_CONFED_SEQUENCE
_.AS_CONFED_SET

# --- counters kept for operators and benchmarks (surfaced by bench/bench_membership.py and bench_bfd.py) ---
_.source_port  # speaker/bfd/manager.py: the session's UDP source port, for debugging a capture
_.probe_failures  # speaker/membership/runtime.py MembershipStats
_.suspicions
_.refutations
_.send_errors
_.rtt_p50
_.rtt_p99
_.rtt_max
_.encrypted  # speaker/membership/seal.py: whether a key is in use (the runtime logs it at start)
_.peer_counters  # tests/component/bfdlab.py: FRR's per-peer counters, for debugging a failing component test
_.PORT  # tests/component/test_ml_netns.py: the membership port the node helper binds (documentation)

# --- test machinery that pytest or Hypothesis finds by name ---
_.pytestmark  # pytest module marks
_.anyio_backend  # the anyio pytest plugin's fixture (also as a parameter that only selects it)
_.pytest_runtest_makereport  # tests/conftest.py: a pytest hook
_._tools  # tests/component/test_l2_wire.py: an autouse fixture
_._need_crds  # tests/e2e/test_crds_server.py: an autouse fixture
_.upsert_service  # tests/unit/test_allocator_churn.py: Hypothesis @rule and @invariant methods
_.delete_service
_.change_pools
_.resync
_.no_ip_on_two_services_unless_they_may_share
_.every_ip_is_inside_one_pool_that_admits_the_service
_.starting_from_scratch_keeps_every_ip
_.verb  # tests/unit/runtime: FakeLeaseApi.fail is called with the verb; these failures ignore it

# --- helpers of the test environment kept for people at a shell ---
_.nft  # tests/netlab.py Host.nft: nftables in a namespace, beside Host.ip
_.rss_kib  # tests/testenv/testenv_server.py: the apiserver's memory, for make cluster users and benchmarks

# --- http.server handler methods, called by name by BaseHTTPRequestHandler ---
_.do_GET  # tests/e2e/test_doctor_e2e.py: the stand-in webhook
_.do_POST
_.log_message
