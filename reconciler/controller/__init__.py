"""The IP-allocating program (``pymetallb controller``)."""
