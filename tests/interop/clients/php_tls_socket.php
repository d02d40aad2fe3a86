<?php
// calcd interop client over TLS, PHP: what tests/tls/interop.sh's PHP TLS
// client uses in place of php_client.php's `new TSocket($host, $port)`.
// Debian's php-thrift has no TSSLSocket (upstream's is a TSocket whose
// open() makes a stream_socket_client on "ssl://HOST:PORT" with a stream
// context; TSocket's own fsockopen takes no context), so this is one such
// subclass, declared on first use, once php_client.php's autoloader can
// find TSocket.  The client is built from php_client.php with that
// expression replaced by calcd_tls_socket($host, $port), and this file
// loaded first (php -d auto_prepend_file=...).
//
// The TLS settings come from the environment:
//   CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
//   CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
//   CALCD_TLS_KEY    its key
// PHP checks calcd's certificate names HOST.

function calcd_tls_socket($host, $port)
{
    $ca = getenv('CALCD_TLS_CA');
    if ($ca === false || $ca === '') {
        echo "FAIL: CALCD_TLS_CA is not set\n";
        exit(2);
    }
    $ssl = ['cafile' => $ca, 'verify_peer' => true, 'verify_peer_name' => true];
    $cert = getenv('CALCD_TLS_CERT');
    if ($cert !== false && $cert !== '') {
        $ssl['local_cert'] = $cert;
        $ssl['local_pk'] = getenv('CALCD_TLS_KEY');
    }
    if (!class_exists('CalcdTlsSocket', false)) {
        class CalcdTlsSocket extends \Thrift\Transport\TSocket
        {
            public $context;

            public function open()
            {
                if ($this->isOpen()) {
                    throw new \Thrift\Exception\TTransportException('Socket already connected',
                        \Thrift\Exception\TTransportException::ALREADY_OPEN);
                }
                $this->handle_ = @stream_socket_client(
                    'ssl://' . $this->host_ . ':' . $this->port_,
                    $errno,
                    $errstr,
                    $this->sendTimeoutSec_ + ($this->sendTimeoutUsec_ / 1000000),
                    STREAM_CLIENT_CONNECT,
                    $this->context
                );
                if ($this->handle_ === false) {
                    $why = $errstr;
                    while (($e = openssl_error_string()) !== false) {
                        $why .= ($why === '' ? '' : '; ') . $e;
                    }
                    throw new \Thrift\Exception\TException('TLS socket: could not connect to ' .
                        $this->host_ . ':' . $this->port_ . ' (' . $why . ')');
                }
            }
        }
    }
    $socket = new CalcdTlsSocket($host, $port);
    $socket->context = stream_context_create(['ssl' => $ssl]);
    return $socket;
}
