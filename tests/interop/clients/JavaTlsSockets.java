// calcd interop client over TLS, Java: what tests/tls/interop.sh's Java TLS
// client uses in place of JavaClient.java's `new TSocket(host, port, 5000)`:
// a socket from libthrift-java's TSSLTransportFactory.getClientSocket.  It
// is built from JavaClient.java with that expression replaced by
// JavaTlsSockets.open(host, port, 5000).
//
// The TLS settings come from the environment (Java wants key stores):
//   CALCD_TLS_TRUSTSTORE  PKCS12 store holding the CA that signed calcd's
//                         certificate (required)
//   CALCD_TLS_KEYSTORE    PKCS12 store with the client's certificate and key,
//                         for mutual TLS
//   CALCD_TLS_STORE_PASSWORD  both stores' password
// TSSLTransportFactory does no host name check; the chain is verified.

import java.net.Socket;

import org.apache.thrift.transport.TSSLTransportFactory;
import org.apache.thrift.transport.TSocket;
import org.apache.thrift.transport.TTransportException;

public final class JavaTlsSockets {
  private JavaTlsSockets() {}

  /** getClientSocket connects at once: JavaClient's open() must then do nothing. */
  private static final class Connected extends TSocket {
    Connected(Socket socket) throws TTransportException {
      super(socket);
    }

    @Override
    public void open() throws TTransportException {
      if (!isOpen()) {
        super.open();
      }
    }
  }

  static TSocket open(String host, int port, int timeout) throws TTransportException {
    String trust = System.getenv("CALCD_TLS_TRUSTSTORE");
    String keys = System.getenv("CALCD_TLS_KEYSTORE");
    String password = System.getenv("CALCD_TLS_STORE_PASSWORD");
    if (trust == null || trust.isEmpty()) {
      System.out.println("FAIL: CALCD_TLS_TRUSTSTORE is not set");
      System.exit(2);
    }
    TSSLTransportFactory.TSSLTransportParameters params =
        new TSSLTransportFactory.TSSLTransportParameters();
    params.setTrustStore(trust, password, null, "PKCS12");
    if (keys != null && !keys.isEmpty()) {
      params.setKeyStore(keys, password, null, "PKCS12");
    }
    TSocket socket = TSSLTransportFactory.getClientSocket(host, port, timeout, params);
    return new Connected(socket.getSocket());
  }
}
