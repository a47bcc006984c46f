"""The pure decisions shared by every program and the offline CLI: no I/O, no clock, no logging.

allocator (which IPs each Service holds) · balancer (MetalLB's convergeBalancer over the allocator) ·
services (what is read from a Service) · actuation (the patches that make objects match a decision).
"""
