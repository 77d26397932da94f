#!/bin/sh
# Run a command in a private network namespace with loopback and a veth pair (j0 127.0.0.2,
# j1 127.0.0.3) that carries only 127.0.0.x addresses: Janus' ICE (libnice) skips loopback
# interfaces but uses j0; nothing in the namespace can reach another network.
# Installs Debian's janus first if it is missing (the namespace has no network to fetch it).
set -e
if ! command -v janus >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends janus >&2
fi
exec unshare -n sh -c 'ip link set lo up && ip link add j0 type veth peer name j1 &&
  ip addr add 127.0.0.2/32 dev j0 && ip addr add 127.0.0.3/32 dev j1 &&
  sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.j0.route_localnet=1 \
    net.ipv4.conf.j1.route_localnet=1 net.ipv4.conf.all.accept_local=1 \
    net.ipv4.conf.j0.accept_local=1 net.ipv4.conf.j1.accept_local=1 &&
  ip link set j0 up && ip link set j1 up && exec "$@"' sh "$@"
