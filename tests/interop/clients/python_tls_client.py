"""calcd interop client over TLS: python_client.py with Apache Thrift's
TSSLSocket (python3-thrift) where it makes its TSocket.

usage: python_tls_client.py GEN_PY_DIR HOST PORT TRANSPORT PROTOCOL LOGID [MODE]
  as python_client.py; the TLS settings come from the environment:
  CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
  CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
  CALCD_TLS_KEY    its key
calcd's certificate is verified, for HOST too (its address or name).
"""

import os
import ssl
import sys
import types

from thrift.transport import TSocket, TSSLSocket

CA = os.environ.get("CALCD_TLS_CA")
CERT = os.environ.get("CALCD_TLS_CERT")
KEY = os.environ.get("CALCD_TLS_KEY")
if not CA:
    print("FAIL: CALCD_TLS_CA is not set")
    sys.exit(2)


class TLSSocket(TSSLSocket.TSSLSocket):
    """What python_client.py gets for TSocket.TSocket(host, port)."""

    def __init__(self, host, port):
        kwargs = {"ca_certs": CA, "cert_reqs": ssl.CERT_REQUIRED}
        if CERT:
            kwargs.update(certfile=CERT, keyfile=KEY)
        super().__init__(host, port, **kwargs)


# python_client.py does `from thrift.transport import TSocket`: hand it a
# module whose TSocket is the TLS one.  TSSLSocket keeps the real module.
shim = types.ModuleType(TSocket.__name__)
shim.__dict__.update(TSocket.__dict__)
shim.TSocket = TLSSocket
sys.modules["thrift.transport"].TSocket = shim

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "python_client.py")) as f:
    code = compile(f.read(), os.path.join(here, "python_client.py"), "exec")
exec(code, {"__name__": "__main__", "__file__": os.path.join(here, "python_client.py")})
