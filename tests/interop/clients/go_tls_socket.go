// calcd interop client over TLS, Go: what tests/tls/interop.sh's Go TLS
// client uses in place of go_client.go's `thrift.NewTSocketConf(...)`: the
// library's TSSLSocket (golang-thrift-dev).  It is built from go_client.go
// with that call replaced by newTLSSocket(...), this file beside it.
//
// The TLS settings come from the environment:
//   CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
//   CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
//   CALCD_TLS_KEY    its key
// crypto/tls checks calcd's certificate names the host dialled.

package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/apache/thrift/lib/go/thrift"
)

func newTLSSocket(hostPort string, conf *thrift.TConfiguration) *thrift.TSSLSocket {
	ca := os.Getenv("CALCD_TLS_CA")
	if ca == "" {
		fmt.Println("FAIL: CALCD_TLS_CA is not set")
		os.Exit(2)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		fmt.Printf("FAIL: TLS setup: %v\n", err)
		os.Exit(1)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fmt.Printf("FAIL: TLS setup: no certificate in %s\n", ca)
		os.Exit(1)
	}
	cfg := &tls.Config{RootCAs: roots}
	if cert := os.Getenv("CALCD_TLS_CERT"); cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, os.Getenv("CALCD_TLS_KEY"))
		if err != nil {
			fmt.Printf("FAIL: TLS setup: %v\n", err)
			os.Exit(1)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	conf.TLSConfig = cfg
	return thrift.NewTSSLSocketConf(hostPort, conf)
}
