#!/usr/bin/env bash
# Debian packages the component tests and `make demo` need (network namespaces, ARP/NDP clients, nftables,
# routing daemons, curl).
# Installs only what is missing, and only as root (`apt-get update` first). Without root it prints what to
# install and exits 0: the tests then skip with that reason outside CI, and fail in CI (tests/conftest.py).
set -euo pipefail
# package:command-that-proves-it-is-installed
WANT=(
  iproute2:ip
  arping:arping
  ndisc6:ndisc6
  nftables:nft
  tcpdump:tcpdump
  iputils-ping:ping
  curl:curl
  bird2:bird
  frr:/usr/lib/frr/bgpd
)
missing=()
for entry in "${WANT[@]}"; do
  pkg=${entry%%:*}; cmd=${entry#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then missing+=("$pkg"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: not root (or no apt-get); the component tests need: ${missing[*]}" >&2
  exit 0
fi
echo "sysdeps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
