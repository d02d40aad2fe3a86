"""calcd interop client over TLS: thriftpy_client.py with ThriftPy's TSSLSocket
(python3-thriftpy) where it makes its TSocket.

usage: thriftpy_tls_client.py IDL HOST PORT TRANSPORT PROTOCOL LOGID [MODE]
  as thriftpy_client.py; the TLS settings come from the environment:
  CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
  CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
  CALCD_TLS_KEY    its key
"""

import os
import sys

import thriftpy.transport
from thriftpy.transport.sslsocket import TSSLSocket

CA = os.environ.get("CALCD_TLS_CA")
CERT = os.environ.get("CALCD_TLS_CERT")
KEY = os.environ.get("CALCD_TLS_KEY")
if not CA:
    print("FAIL: CALCD_TLS_CA is not set")
    sys.exit(2)


def tls_socket(host, port, **kwargs):
    """What thriftpy_client.py gets for TSocket(host, port, timeouts...)."""
    return TSSLSocket(host, port, cafile=CA, certfile=CERT or None, keyfile=KEY or None,
                      validate=True, **kwargs)


# thriftpy_client.py does `from thriftpy.transport import TSocket`.
thriftpy.transport.TSocket = tls_socket

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "thriftpy_client.py")) as f:
    code = compile(f.read(), os.path.join(here, "thriftpy_client.py"), "exec")
exec(code, {"__name__": "__main__", "__file__": os.path.join(here, "thriftpy_client.py")})
