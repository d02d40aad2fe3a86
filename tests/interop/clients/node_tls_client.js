// calcd interop client over TLS: node_client.js with the thrift package's
// createSSLConnection where it calls createConnection.
//
// usage: node node_tls_client.js GEN_JS_DIR HOST PORT TRANSPORT PROTOCOL LOGID [MODE]
//   as node_client.js; the TLS settings come from the environment:
//   CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
//   CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
//   CALCD_TLS_KEY    its key
// Node checks calcd's certificate against HOST.
'use strict';

const fs = require('fs');
const path = require('path');
const thrift = require('thrift');

const ca = process.env.CALCD_TLS_CA;
if (!ca) {
  console.log('FAIL: CALCD_TLS_CA is not set');
  process.exit(2);
}
const tls = { ca: fs.readFileSync(ca), rejectUnauthorized: true };
if (process.env.CALCD_TLS_CERT) {
  tls.cert = fs.readFileSync(process.env.CALCD_TLS_CERT);
  tls.key = fs.readFileSync(process.env.CALCD_TLS_KEY);
}

// node_client.js gets the same (cached) module object from require('thrift').
thrift.createConnection = (host, port, options) =>
  thrift.createSSLConnection(host, port, Object.assign({}, options, tls));

require(path.join(__dirname, 'node_client.js'));
