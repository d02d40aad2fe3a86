#!/bin/sh
# make-certs.sh DIR: the throw-away PKI calcd's TLS tests use, made with
# openssl(1) in DIR (created if missing; existing files are overwritten).
# Nothing here is ever committed.  ECDSA P-256 keys (fast to make), SHA-256.
#
#   ca.pem ca.key                  the test CA
#   int.pem int.key                an intermediate CA under it, for servers
#   server.pem server.key          calcd's certificate (CN calcd-test-server;
#                                  SAN 127.0.0.1, ::1, localhost), signed by
#                                  int: server.pem holds it, then int.pem
#   server-combined.pem            server.pem and server.key in one file
#   server2.pem server2.key        a second server certificate (CN
#                                  calcd-test-server-2), signed by ca directly
#   wrong-name.pem wrong-name.key  a server certificate signed by ca for
#                                  calcd.invalid only (SAN DNS:calcd.invalid):
#                                  names neither 127.0.0.1, ::1 nor localhost
#   server-encrypted.key           server.key, encrypted (passphrase "secret")
#   client.pem client.key          a client certificate (CN calcd-test-client)
#   revoked.pem revoked.key        a client certificate that crl.pem revokes
#   crl.pem                        ca's CRL, listing revoked.pem
#   other-ca.pem other-ca.key      a CA nobody trusts
#   other-client.pem other-client.key   a client certificate from other-ca
#   rsa-server.pem rsa-server.key  an RSA 2048 server certificate signed by ca
#                                  (for benchmarks: the common kind)
#   expired.pem expired.key        signed by ca, valid only in the year 2000
#                                  (extended key usage server and client)
#
# Every other certificate is valid from now for 10 years.
set -eu

[ $# -eq 1 ] || { echo "usage: make-certs.sh DIR" >&2; exit 2; }
dir=$1
OPENSSL=${OPENSSL:-openssl}
mkdir -p "$dir"
cd "$dir"
umask 077

ec_key() { # FILE
	"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

printf '%s\n' \
	'[ca]' \
	'basicConstraints = critical, CA:TRUE' \
	'keyUsage = critical, keyCertSign, cRLSign' \
	'subjectKeyIdentifier = hash' \
	'authorityKeyIdentifier = keyid:always' \
	'[server]' \
	'basicConstraints = critical, CA:FALSE' \
	'keyUsage = critical, digitalSignature, keyEncipherment' \
	'extendedKeyUsage = serverAuth' \
	'subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost' \
	'subjectKeyIdentifier = hash' \
	'authorityKeyIdentifier = keyid:always' \
	'[wrong_name]' \
	'basicConstraints = critical, CA:FALSE' \
	'keyUsage = critical, digitalSignature, keyEncipherment' \
	'extendedKeyUsage = serverAuth' \
	'subjectAltName = DNS:calcd.invalid' \
	'subjectKeyIdentifier = hash' \
	'authorityKeyIdentifier = keyid:always' \
	'[client]' \
	'basicConstraints = critical, CA:FALSE' \
	'keyUsage = critical, digitalSignature' \
	'extendedKeyUsage = clientAuth' \
	'subjectKeyIdentifier = hash' \
	'authorityKeyIdentifier = keyid:always' >ext.cnf

self_signed_ca() { # NAME CN
	ec_key "$1.key"
	"$OPENSSL" req -new -x509 -sha256 -days 3650 -key "$1.key" -subj "/O=calcd tests/CN=$2" \
		-extensions ca -config ext.cnf -out "$1.pem" 2>/dev/null
}

# sign NAME CN ISSUER EXTENSIONS [KEYALG]
sign() {
	if [ "${5:-ec}" = rsa ]; then
		"$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null
	else
		ec_key "$1.key"
	fi
	"$OPENSSL" req -new -sha256 -key "$1.key" -subj "/O=calcd tests/CN=$2" -out "$1.csr" \
		-config ext.cnf 2>/dev/null
	"$OPENSSL" x509 -req -sha256 -days 3650 -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" \
		-set_serial "0x$("$OPENSSL" rand -hex 8)" -extfile ext.cnf -extensions "$4" \
		-out "$1.pem" 2>/dev/null
	rm -f "$1.csr"
}

# openssl req wants a [req] section in the file it is given.
printf '%s\n' '[req]' 'distinguished_name = dn' '[dn]' >>ext.cnf

self_signed_ca ca "calcd test CA"
sign int "calcd test intermediate CA" ca ca
sign server calcd-test-server int server
cat int.pem >>server.pem
cat server.pem server.key >server-combined.pem
sign server2 calcd-test-server-2 ca server
sign wrong-name calcd.invalid ca wrong_name
sign client calcd-test-client ca client
sign revoked calcd-test-revoked-client ca client
sign rsa-server calcd-test-rsa-server ca server rsa
self_signed_ca other-ca "calcd test other CA"
sign other-client calcd-test-other-client other-ca client
"$OPENSSL" pkey -in server.key -aes256 -passout pass:secret -out server-encrypted.key

# openssl ca, for explicit dates and the CRL, wants a small database.
rm -rf ca-db
mkdir ca-db
: >ca-db/index.txt
echo 01 >ca-db/crlnumber
echo 1000 >ca-db/serial
printf '%s\n' \
	'[ca]' 'default_ca = test_ca' \
	'[test_ca]' \
	"database = $PWD/ca-db/index.txt" \
	"crlnumber = $PWD/ca-db/crlnumber" \
	"serial = $PWD/ca-db/serial" \
	"certificate = $PWD/ca.pem" \
	"private_key = $PWD/ca.key" \
	"new_certs_dir = $PWD/ca-db" \
	'default_md = sha256' \
	'default_crl_days = 3650' \
	'policy = policy_any' \
	'unique_subject = no' \
	'[policy_any]' \
	'organizationName = optional' \
	'commonName = supplied' \
	'[expired]' \
	'basicConstraints = critical, CA:FALSE' \
	'keyUsage = critical, digitalSignature' \
	'extendedKeyUsage = serverAuth, clientAuth' \
	'subjectAltName = IP:127.0.0.1' >ca-db/ca.cnf
ec_key expired.key
"$OPENSSL" req -new -sha256 -key expired.key -subj "/O=calcd tests/CN=calcd-test-expired" \
	-out ca-db/expired.csr -config ext.cnf 2>/dev/null
"$OPENSSL" ca -batch -config ca-db/ca.cnf -notext -extensions expired \
	-startdate 20000101000000Z -enddate 20010101000000Z \
	-in ca-db/expired.csr -out expired.pem 2>/dev/null
"$OPENSSL" ca -batch -config ca-db/ca.cnf -revoke revoked.pem 2>/dev/null
"$OPENSSL" ca -batch -config ca-db/ca.cnf -gencrl -out crl.pem 2>/dev/null
rm -rf ca-db ext.cnf

# Readable by the tests' other users (haproxy drops privileges in some setups).
chmod 0644 ./*.pem
chmod 0600 ./*.key
