"""Ports for the servers the tests start, taken below the kernel's ephemeral range: a port in
that range can be taken, while its server is down for a restart, by an outgoing connection of
any client (the gateway retrying that very server, for one), and the restart then fails."""
import random
import socket


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_block(n):
    """A base port with `n` consecutive free ports after it."""
    high = _ephemeral_low() - n
    low = 10000 if high > 12000 else 1024
    for _ in range(500):
        base = random.randrange(low, max(low + 1, high))
        if all(_free(p) for p in range(base, base + n)):
            return base
    raise RuntimeError("no block of free ports")


def free_port():
    return free_port_block(1)
