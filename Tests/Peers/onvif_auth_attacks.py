#!/usr/bin/env python3
"""Someone on the VMS network against a virtual ONVIF device's sign-in, written by hand (a client library would
not send these): HTTP Digest replays (same header on a new connection, with another body, on another path, a nonce
count used twice, a nonce the device never issued), WS-UsernameToken replays (re-encodings of one nonce, the same
nonce and Created again) beside what libonvif legitimately sends (one nonce, a new Created), and a password
brute force. Prints {attack: HTTP status} as JSON; the caller checks what reached the camera."""
import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import re

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
args = parser.parse_args()

ENVELOPE = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            "<s:Header>%s</s:Header><s:Body>%s</s:Body></s:Envelope>")
MOVE = ('<tptz:ContinuousMove xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" '
        'xmlns:tt="http://www.onvif.org/ver10/schema"><tptz:ProfileToken>Profile_1</tptz:ProfileToken>'
        '<tptz:Velocity><tt:PanTilt x="0.5" y="0"/></tptz:Velocity></tptz:ContinuousMove>')
SET_NTP = ('<tds:SetNTP xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:FromDHCP>false</tds:FromDHCP>'
           "</tds:SetNTP>")
SCOPES = '<tds:GetScopes xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'
results = {}


def post(path, body, authorization=None, header="", source="127.0.0.1"):
    connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10, source_address=(source, 0))
    headers = {"Content-Type": "application/soap+xml"}
    if authorization:
        headers["Authorization"] = authorization
    connection.request("POST", path, body=ENVELOPE % (header, body), headers=headers)
    response = connection.getresponse()
    response.read()
    challenges = response.getheader("WWW-Authenticate", "")
    connection.close()
    return response.status, ", ".join(v for k, v in response.getheaders() if k.lower() == "www-authenticate") or challenges


def md5_challenge(header):
    for part in re.split(r",\s*(?=Digest )", header):
        if "SHA-256" not in part:
            return dict(re.findall(r'(\w+)="?([^",]*)"?', part))
    raise SystemExit("no MD5 challenge in %r" % header)


def h(text):
    return hashlib.md5(text.encode()).hexdigest()


def digest(challenge, uri, nc, password=None, nonce=None):
    nonce = nonce or challenge["nonce"]
    cnonce = os.urandom(8).hex()
    ha1 = h("%s:%s:%s" % (args.user, challenge["realm"], password or args.password))
    ha2 = h("POST:%s" % uri)
    response = h("%s:%s:%08x:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", qop=auth, nc=%08x, '
            'cnonce="%s"' % (args.user, challenge["realm"], nonce, uri, response, nc, cnonce))


# HTTP Digest, from 127.0.0.1.
path = "/onvif/device_service"
status, header = post(path, MOVE)
results["no_credentials"] = status
challenge = md5_challenge(header)
results["qop_offered"] = 200 if challenge.get("qop") == "auth" else 0
first = digest(challenge, path, 1)
results["digest_legit"] = post(path, MOVE, first)[0]
results["digest_replay_same"] = post(path, MOVE, first)[0]
results["digest_replay_other_body"] = post(path, SET_NTP, first)[0]
results["digest_replay_other_path"] = post("/onvif/ptz_service", MOVE, first)[0]
results["digest_next_count"] = post(path, MOVE, digest(challenge, path, 2))[0]
results["digest_count_reused"] = post(path, MOVE, digest(challenge, path, 2))[0]
status, header = post(path, MOVE, digest(challenge, path, 1, nonce="0123456789abcdef0123456789abcdef"))
results["digest_unknown_nonce"] = status
results["digest_unknown_nonce_stale"] = 200 if "stale=true" in header else 0
second = md5_challenge(post(path, MOVE)[1])
results["fresh_nonce_per_challenge"] = 200 if second["nonce"] != challenge["nonce"] else 0


# WS-UsernameToken, from 127.0.0.3 (its own failed-login count).
def token(nonce_text, created, password=None):
    nonce = base64.b64decode(nonce_text)
    secret = hashlib.sha1(nonce + created.encode() + (password or args.password).encode()).digest()
    return ('<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
            'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
            "<wsse:UsernameToken><wsse:Username>%s</wsse:Username>"
            '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">%s</wsse:Password>'
            "<wsse:Nonce>%s</wsse:Nonce><wsu:Created>%s</wsu:Created></wsse:UsernameToken></wsse:Security>"
            % (args.user, base64.b64encode(secret).decode(), nonce_text, created))


now = datetime.datetime.now(datetime.timezone.utc)
created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
nonce = base64.b64encode(os.urandom(16)).decode()  # 24 characters, the last data one with 4 unused bits
ws = "127.0.0.3"
results["token_legit"] = post(path, SCOPES, header=token(nonce, created), source=ws)[0]
# The same token again: for a write (refused), for a read from another address (refused), for a read from the
# same address at once (libonvif sends one token twice within a second: taken).
results["token_replay_write"] = post(path, SET_NTP, header=token(nonce, created), source=ws)[0]
results["token_replay_other_source"] = post(path, SCOPES, header=token(nonce, created), source="127.0.0.4")[0]
results["token_reread_same_source"] = post(path, SCOPES, header=token(nonce, created), source=ws)[0]
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
last = alphabet.index(nonce[21])
variants = [nonce[:21] + alphabet[(last & ~0xF) | bits] + nonce[22:] for bits in (1, 2, 7) if (last & ~0xF) | bits != last]
results["token_reencoded"] = max(post(path, SET_NTP, header=token(v, created), source=ws)[0] for v in variants[:3])
# libonvif: the same nonce within a second, with a new Created, proves the password again.
later = (now + datetime.timedelta(milliseconds=500)).strftime("%Y-%m-%dT%H:%M:%S.500Z")
results["token_same_nonce_new_created"] = post(path, SCOPES, header=token(nonce, later), source=ws)[0]

# A password brute force from 127.0.0.1, then the right password.
# Once over the limit the source gets no challenge at all (no nonce to guess against), so the last nonce it got
# carries the right password.
fresh = md5_challenge(post(path, SCOPES)[1])
for attempt in range(12):
    header = post(path, SCOPES)[1]
    if "Digest" in header:
        fresh = md5_challenge(header)
    post(path, SCOPES, digest(fresh, path, 1, password="guess-%d" % attempt))
results["no_challenge_when_limited"] = 200 if "Digest" not in post(path, SCOPES)[1] else 0
results["right_password_after_bruteforce"] = post(path, MOVE, digest(fresh, path, 2))[0]
print(json.dumps(results))
