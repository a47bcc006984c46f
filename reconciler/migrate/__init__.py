"""Migration of a live MetalLB cluster from the legacy ConfigMap to CRs (``pymetallb migrate --in-cluster``).

``proof`` decides, with no I/O, whether every LoadBalancer Service keeps its addresses under the converted CRs;
``live`` reads the cluster, runs the proof and applies the CRs; ``cli`` is the command's surface.
"""
