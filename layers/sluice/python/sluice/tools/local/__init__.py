"""The local stack: template.yaml deployed into moto, handlers in-process (a tool for people, never
shipped to Lambda)."""

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (for a local stack or API front started next)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
