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
_.members_changed  # speaker/layer2.py: the membership layer's callback
_.duplicate_seen  # speaker/layer2.py: the responder's duplicate-announcer callback
_.withdraw_all  # speaker/layer2.py: called on stop
_.pod_identity  # speaker/layer2.py: the speaker program's identity from the downward API

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
