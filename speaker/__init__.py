"""speaker: the node agent (membership, layer 2 ARP/NDP, BGP, BFD); docs/architecture.md."""
