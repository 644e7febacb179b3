"""Run a command in a network namespace that has only a loopback interface, with chosen TCP ports
of the host's loopback bridged in through Unix domain sockets.

Why: the real AI command-line clients (test_cli.py) phone home (telemetry, update checks, feature
flags, login endpoints). Inside a fresh network namespace the only interface is `lo`, so every
address that is not loopback is unreachable (connect() fails at once with ENETUNREACH, DNS
servers included), and the host's own loopback services are invisible too. The one thing the
client may reach is the gateway, through the bridge:

    client --TCP--> 127.0.0.1:PORT (namespace lo)  [NamespaceSide, runs inside the namespace]
           --Unix socket (the filesystem is shared across network namespaces)-->
    HostForwarder (in the test process, host side) --TCP--> 127.0.0.1:PORT (host lo, the gateway)

The port number is the same on both sides, so a base URL like http://127.0.0.1:PORT/ai means
the same thing inside and outside.

Host side:

    with HostForwarder(sock_path, port):
        argv = netns_argv(["claude", "-p", "hi"], {port: sock_path})
        subprocess.run(argv, ...)

netns_argv() wraps the command as `unshare --net --map-root-user python3 netns_bridge.py
--forward PORT=SOCK ... -- COMMAND...`. That inner process brings `lo` up, refuses to go on
if the namespace has any interface but `lo`, starts a listener per forwarded port, runs the
command with the inherited stdio and exits with its status.

Only the standard library is used (threads, one per relay direction)."""

import argparse
import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading

BUFSIZE = 65536
# exit status of the inner process when it refuses to run the command
EXIT_NOT_ISOLATED = 97
EXIT_SETUP_FAILED = 98


# ---- relaying ------------------------------------------------------------------------------


def _pipe(src, dst):
    """Copy src to dst until EOF, then half-close dst (so a client's shutdown(SHUT_WR) is seen)."""
    try:
        while True:
            data = src.recv(BUFSIZE)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(a, b):
    """Relay both directions between two connected sockets, then close both. Blocks."""
    other = threading.Thread(target=_pipe, args=(b, a), daemon=True)
    other.start()
    _pipe(a, b)
    other.join()
    for s in (a, b):
        try:
            s.close()
        except OSError:
            pass


class _Acceptor:
    """Accept on a listening socket and hand each connection, with a fresh connection made by
    `connect()`, to relay() in its own thread."""

    def __init__(self, listener, connect):
        self.listener = listener
        self.connect = connect
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.closed = False

    def start(self):
        self.thread.start()
        return self

    def _loop(self):
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            upstream = self.connect()
        except OSError:
            conn.close()
            return
        relay(conn, upstream)

    def close(self):
        self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(timeout=5)


class HostForwarder:
    """Host side: listen on a Unix socket path; relay each connection to host:port over TCP."""

    def __init__(self, sock_path, port, host="127.0.0.1"):
        self.sock_path = str(sock_path)
        self.port = port
        self.host = host
        self._acceptor = None

    def start(self):
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.sock_path)
        listener.listen(128)
        self._acceptor = _Acceptor(
            listener, lambda: socket.create_connection((self.host, self.port), timeout=10)).start()
        return self

    def close(self):
        if self._acceptor:
            self._acceptor.close()
            self._acceptor = None
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


# ---- the namespace side --------------------------------------------------------------------

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def bring_loopback_up():
    """`ip link set lo up`, by ioctl so iproute2 is not needed."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def interfaces():
    """Names of the network interfaces of this process's network namespace."""
    return sorted(name for _, name in socket.if_nameindex())


def _unix_connector(path):
    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError:
            s.close()
            raise
        return s
    return connect


def namespace_main(forwards, command):
    """Inside the namespace: lo up, check isolation, listen, run the command."""
    try:
        bring_loopback_up()
    except OSError as e:
        print(f"netns_bridge: cannot bring lo up: {e}", file=sys.stderr)
        return EXIT_SETUP_FAILED
    names = interfaces()
    if names != ["lo"]:
        print(f"netns_bridge: refusing to run, namespace has interfaces {names}", file=sys.stderr)
        return EXIT_NOT_ISOLATED
    acceptors = []
    for port, path in forwards:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        acceptors.append(_Acceptor(listener, _unix_connector(path)).start())
    if not command:
        return 0
    try:
        proc = subprocess.Popen(command)
    except OSError as e:
        print(f"netns_bridge: cannot run {command[0]}: {e}", file=sys.stderr)
        return 127

    def forward_signal(signum, _frame):
        proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward_signal)
    status = proc.wait()
    for acceptor in acceptors:
        acceptor.close()
    return status if status >= 0 else 128 - status


def _parse_forward(text):
    port, _, path = text.partition("=")
    if not path:
        raise argparse.ArgumentTypeError(f"--forward wants PORT=SOCKET_PATH, got {text!r}")
    return int(port), path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forward", action="append", default=[], type=_parse_forward,
                        metavar="PORT=SOCKET_PATH",
                        help="listen on 127.0.0.1:PORT, relay to the Unix socket")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return namespace_main(args.forward, command)


# ---- host-side helpers ---------------------------------------------------------------------


def netns_argv(command, forwards, python=sys.executable):
    """The argv that runs `command` in a new network namespace with `forwards` ({port: socket
    path}) bridged in. The caller runs the HostForwarders."""
    unshare = shutil.which("unshare") or "unshare"
    argv = [unshare, "--net", "--map-root-user", python, os.path.abspath(__file__)]
    for port, path in forwards.items():
        argv += ["--forward", f"{port}={path}"]
    return argv + ["--"] + list(command)


def netns_unavailable_reason():
    """None when a loopback-only network namespace can be made here, else why not."""
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    try:
        result = subprocess.run(netns_argv([], {}), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare --net failed: {e}"
    if result.returncode != 0:
        return f"unshare --net failed ({result.returncode}): {result.stderr.strip()[-500:]}"
    return None


if __name__ == "__main__":
    sys.exit(main())

