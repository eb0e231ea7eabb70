#!/usr/bin/python3
"""Generates the ARC fixtures with dkimpy (Debian's python3-dkim, the library
Mailman 3 seals with), so that the Go verifier is tested against another
implementation's output. Run from this directory: /usr/bin/python3 generate.py

Writes arc-*.eml and zone.txt (the TXT records the tests serve from their
in-process DNS server: "name TXT-value" per line). Keys are generated with
openssl on every run; the private keys are not kept.
"""
import subprocess, base64, dkim, email.utils

def keypair():
    pem = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()

zone = {}
keys = {}
for dom, sel in [("lists.example.test", "arc"), ("example.org", "mx"), ("poster.example", "p1")]:
    pem, txt = keypair()
    keys[dom] = (sel.encode(), pem)
    zone[sel + "._domainkey." + dom] = txt

def dns(name, timeout=5):
    n = name.decode().rstrip(".")
    return zone.get(n, "").encode() or None

T = 1765000000
base = (b"From: Poster <poster@poster.example>\r\n"
        b"To: list@lists.example.test\r\n"
        b"Subject: ARC fixture\r\n"
        b"Date: Sat, 06 Dec 2025 10:00:00 +0000\r\n"
        b"Message-ID: <arc-fixture@poster.example>\r\n"
        b"List-Id: <list.lists.example.test>\r\n"
        b"\r\n"
        b"Hello list.\r\n")

def dkim_sign(msg, dom, headers):
    sel, pem = keys[dom]
    sig = dkim.sign(msg, sel, dom.encode(), pem, include_headers=headers,
                    canonicalize=(b"relaxed", b"relaxed"))
    return sig + msg

def arc_seal(msg, dom, srv_id, ar):
    sel, pem = keys[dom]
    msg = b"Authentication-Results: " + srv_id + b"; " + ar + b"\r\n" + msg
    sets = dkim.arc_sign(msg, sel, dom.encode(), pem, srv_id, timestamp=T)
    return b"".join(sets) + msg

signed = dkim_sign(base, "poster.example", [b"from", b"to", b"subject", b"date", b"message-id"])
# The list adds a footer and seals (i=1, cv=none), as Mailman 3 does.
footer = signed + b"-- \r\nlist footer\r\n"
one = arc_seal(footer, "lists.example.test", b"lists.example.test",
               b"dkim=pass header.d=poster.example; spf=pass smtp.mailfrom=poster.example")
# The receiver seals again (i=2, cv=pass).
two = arc_seal(one, "example.org", b"mx.example.org", b"arc=pass; dkim=fail header.d=poster.example")
# A forwarder changed the body after the list sealed; the next sealer
# found the chain broken and said so (i=2, cv=fail).
tampered = one.replace(b"list footer", b"changed footer")
cvfail = arc_seal(tampered, "example.org", b"mx.example.org", b"arc=fail")

for name, msg in [("arc-list.eml", one), ("arc-two.eml", two), ("arc-cvfail.eml", cvfail)]:
    res = dkim.arc_verify(msg, dnsfunc=dns)
    print(name, res[0], res[2])
    with open(name, "wb") as f:
        f.write(msg)
with open("zone.txt", "w") as f:
    for n, v in sorted(zone.items()):
        f.write(n + " " + v + "\n")
