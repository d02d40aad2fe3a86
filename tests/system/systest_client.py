"""The Thrift client test_systemd.sh runs inside calcd's network namespace:
Debian's python3-thrift with code generated from calculator.thrift at test
time.  Every socket has a timeout, every wait a bound.

  systest_client.py GEN_PY calc HOST PORT     add(5, 3) and subtract(10, 4)
  systest_client.py GEN_PY refused HOST PORT  nothing accepts on HOST:PORT
  systest_client.py GEN_PY drain HOST PORT    send half of add(5, 3), print
      "half-sent", wait for "go" on stdin, send the rest, print the answer

Exit status 0 when the server did what the mode expects, 1 otherwise."""

import select
import socket
import sys

sys.path.insert(0, sys.argv[1])

from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from example.calculator import CalculatorService  # noqa: E402

TIMEOUT_MS = 10000
GO_TIMEOUT_S = 60


def connect(host, port):
    sock = TSocket.TSocket(host, port)
    sock.setTimeout(TIMEOUT_MS)
    transport = TTransport.TBufferedTransport(sock)
    transport.open()
    return sock, transport, CalculatorService.Client(TBinaryProtocol.TBinaryProtocol(transport))


def check(what, got, want):
    print(f"{what} = {got}")
    if got != want:
        print(f"expected {want}", file=sys.stderr)
        sys.exit(1)


def calc(host, port):
    _, transport, client = connect(host, port)
    try:
        check("5 + 3", client.add(5, 3), 8)
        check("10 - 4", client.subtract(10, 4), 6)
    finally:
        transport.close()


def refused(host, port):
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_MS / 1000):
            pass
    except ConnectionRefusedError:
        print(f"{host}:{port} refuses connections")
        return
    print(f"{host}:{port} accepts connections", file=sys.stderr)
    sys.exit(1)


def drain(host, port):
    """A call in flight across a stop: half of it before, the rest after."""
    # The call's bytes, written by the generated client into memory.
    out = TTransport.TMemoryBuffer()
    CalculatorService.Client(TBinaryProtocol.TBinaryProtocol(out)).send_add(5, 3)
    call = out.getvalue()
    sock, transport, client = connect(host, port)
    try:
        sock.handle.sendall(call[: len(call) // 2])
        print("half-sent", flush=True)
        ready, _, _ = select.select([sys.stdin], [], [], GO_TIMEOUT_S)
        if not ready or sys.stdin.readline().strip() != "go":
            print("no 'go' on stdin", file=sys.stderr)
            sys.exit(1)
        sock.handle.sendall(call[len(call) // 2:])
        check("5 + 3 (sent across the stop)", client.recv_add(), 8)
    finally:
        transport.close()


def main():
    mode, host, port = sys.argv[2], sys.argv[3], int(sys.argv[4])
    {"calc": calc, "refused": refused, "drain": drain}[mode](host, port)


if __name__ == "__main__":
    main()
