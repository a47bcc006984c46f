"""The layer-2 wire side of the speaker: frame codec, interface inventory, and the ARP/NDP responder.

``speaker.l2.codec`` encodes and decodes frames; ``speaker.l2.answers`` decides, purely, what to send for one
received frame; ``speaker.l2.interfaces`` follows the node's interfaces over netlink; ``speaker.l2.responder``
runs raw sockets on the asyncio loop. The election (which IPs this node announces) is not here: the caller
hands the responder what changed (``L2Responder.update``; ``set_desired`` takes a whole state). See docs/layer2.md.
"""
