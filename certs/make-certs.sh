#!/usr/bin/env bash
# Makes an appliance CA and a server certificate for RTSPS (TLS 1.2+, ECDSA P-256), with openssl.
#   certs/make-certs.sh OUT_DIR [NAME ...]
# NAMEs are the DNS names and IP addresses the VMS uses to reach the gateway (default: localhost 127.0.0.1 ::1).
# OUT_DIR gets ca.pem (give this to the VMS to trust), ca-key.pem (keep offline), server.pem (chain) and
# server-key.pem (mode 0600, readable by the service user only). Keys never go into the repository.
set -euo pipefail
out=${1:?usage: certs/make-certs.sh OUT_DIR [NAME ...]}
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(localhost 127.0.0.1 ::1)
mkdir -p "$out"
umask 077
san=""
for name in "${names[@]}"; do
    if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
san=${san%,}
openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca-key.pem"
openssl req -x509 -new -key "$out/ca-key.pem" -sha256 -days 3650 -subj "/CN=CamGateway appliance CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$out/ca.pem"
openssl ecparam -name prime256v1 -genkey -noout -out "$out/server-key.pem"
openssl req -new -key "$out/server-key.pem" -subj "/CN=${names[0]}" -out "$out/server.csr"
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' "$san" > "$out/server.ext"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" -CAcreateserial -days 825 -sha256 \
    -extfile "$out/server.ext" -out "$out/server.pem" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 0644 "$out/ca.pem" "$out/server.pem"
echo "CA for the VMS: $out/ca.pem; server certificate: $out/server.pem; key: $out/server-key.pem"
