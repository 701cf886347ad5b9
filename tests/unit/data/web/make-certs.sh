#!/bin/sh
# Regenerates the test certificates of tests/unit/test_web_config.c (run in
# this directory; valid for 100 years, so this is rarely needed):
#   ca.crt/ca.key            a CA (EC P-256)
#   server.crt/server.key    server certificate signed by ca (EC P-256),
#                            SANs DNS:localhost, IP:127.0.0.1
#   server-rsa.crt/.key      the same with an RSA 2048 key (ECDHE_RSA suites)
#   client.crt/client.key    client certificate signed by ca (clientAuth),
#                            SANs DNS:client.example, email:ops@example.com,
#                            URI:spiffe://example/prometheus, IP:10.1.2.3
#   selfsigned.crt/.key      a self-signed client certificate, SAN
#                            DNS:selfsigned.example
#   other.key                an unrelated key (mismatch tests)
# The keys are test keys, nothing else; the tests copy them to mode 0600.
set -eu
days=36500
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days $days -subj /CN=kcm-test-ca \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
	-extfile server.ext -out server.crt
openssl req -newkey rsa:2048 -nodes -keyout server-rsa.key -out server-rsa.csr -subj /CN=localhost
openssl x509 -req -in server-rsa.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
	-extfile server.ext -out server-rsa.crt
openssl req $ec -keyout client.key -out client.csr -subj /CN=prometheus
printf 'subjectAltName=DNS:client.example,email:ops@example.com,URI:spiffe://example/prometheus,IP:10.1.2.3\nextendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days $days \
	-extfile client.ext -out client.crt
openssl req -x509 $ec -keyout selfsigned.key -out selfsigned.crt -days $days \
	-subj /CN=selfsigned -addext subjectAltName=DNS:selfsigned.example \
	-addext extendedKeyUsage=clientAuth
openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out other.key
rm -f server.csr server-rsa.csr client.csr server.ext client.ext ca.srl
