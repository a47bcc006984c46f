"""``pymetallb doctor``: one command that answers "why can't I reach my Service?" (docs/doctor.md).

``report`` holds the result types and their renderings, ``snapshot`` reads the cluster, ``checks`` judges what was
read (pure), ``probes`` reaches out (the webhook over HTTPS, ARP/NDP on the LAN) and ``cli`` wires them together.
This package may import ``crds``, ``reconciler.core`` and ``reconciler.runtime``, never a program.
"""
