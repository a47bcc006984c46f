"""BFD (RFC 5880/5881): single-hop asynchronous sessions over UDP 3784, so a router drops a dead node's routes
in interval x multiplier instead of the BGP hold time.

- ``packet``: the Control packet codec (encode/decode pair, §6.8.6 checks).
- ``session``: one session's state machine, pure (no clock, no socket); driven by ``tick``/``receive``.
- ``manager``: ``BfdManager``, the runtime: one thread, one socket per address family, all sessions.

See docs/bfd.md.
"""
