#!/usr/bin/env bash
# mkcerts.sh DIR - test PKI made with the openssl CLI (nothing here comes from murr):
#   ca.pem/ca.key            a test CA
#   server.pem/server.key    CN=murr-test-server,   SAN localhost, 127.0.0.1, signed by ca
#   server2.pem/server2.key  CN=murr-test-server-2, same SANs, signed by ca (for reload tests)
#   client.pem/client.key    CN=murr-test-client, clientAuth, signed by ca
#   other-ca.pem, rogue.pem/rogue.key  a client certificate from another CA (must be refused)
set -euo pipefail
d=$1
mkdir -p "$d"
cd "$d"
q() { "$@" >/dev/null 2>&1; }
ca() { # name subject
  q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" \
    -days 2 -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject ca extensions
  q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
  printf '%s\n' "$4" > "$1.ext"
  q openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}
ca ca murr-test-ca
ca other-ca murr-other-ca
srv='subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth'
leaf server murr-test-server ca "$srv"
leaf server2 murr-test-server-2 ca "$srv"
leaf client murr-test-client ca 'extendedKeyUsage=clientAuth'
leaf rogue murr-rogue-client other-ca 'extendedKeyUsage=clientAuth'
