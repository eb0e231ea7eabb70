#!/usr/bin/env python3
"""Writes the evidence fixtures (*.eml) in this directory.

Each fixture is built the way the software that sends it builds it, with
Python's email package as Mailman uses it:

- Mailman 3 (3.3): mailman/email/message.py UserNotification (utf-8 body,
  base64; subject as an RFC 2047 word; Precedence: bulk), the virgin
  pipeline's cook-headers (X-Mailman-Version) and rfc-2369 (List-*)
  handlers; chains/hold.py (hold notice from -bounces, moderator notice from
  -owner with the held post and a "confirm" stub attached), app/bounces.py
  bounce_message (automatic rejection from -owner, original subject, post
  attached), app/moderator.py send_rejection (moderator refusal from
  -bounces), the no-more-today notice from -owner; and the English templates
  list:user:notice:hold, list:admin:action:post, list:user:notice:rejected,
  list:user:notice:refuse, list:user:notice:no-more-today.
  Mailman 3.3.8 (the *-real-* files, captured from the testbed) writes
  its notices in us-ascii, 7bit, with a plain subject; the utf-8/base64 form
  is what UserNotification writes once it forces utf-8, as later code does,
  and it checks that Classify decodes a body whose Content-Transfer-Encoding
  field it was not given. One hold notice uses the 3.1/3.2 form (no List-*).
- Mailman 2.1: Handlers/Hold.py (postheld.txt from -owner, postauth.txt
  moderator notice), Bouncer.BounceMessage, ListAdmin.__refuse (refuse.txt),
  MailList.autorespondToSender (nomoretoday.txt), CookHeaders
  (X-BeenThere, X-Mailman-Version, List-Id, X-List-Administrivia, Sender,
  Errors-To).
- Postfix bounce(8), Exim, Dovecot LDA (lib-lda/mail-send.c) and qmail-send
  bounces, written out literally.
- Traps: people forwarding, quoting and answering, which are unrelated.

Tokens are signed with the test key in evidence_test.go; one hold notice
carries a token signed with another key. Run: python3 generate.py
"""

import base64
import os
import textwrap
from email.charset import Charset, QP, SHORTEST
from email.header import Header
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.text import MIMEText

HERE = os.path.dirname(os.path.abspath(__file__))
DATE = "Tue, 14 Nov 2023 22:13:25 +0000"
LIST = "test@lists.example.org"
LISTID = "test.lists.example.org"
PROBE = "probe@example.org"

T = dict(line.split() for line in """
copymm3listcopy2 lp1.copymm3listcopy2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.u7fx5m7tbwaqxpxqpuqxpcje
copysubjectonly2 lp1.copysubjectonly2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.7kqobxpt5vqlphy5xbwnh7fc
holdmm3moderated lp1.holdmm3moderated.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.b6crh6nft2rlpdbcypsrrdxx
holdmm3nonmember lp1.holdmm3nonmember.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.ztvajezu5dbapvedngblytnf
holdmm2nonmember lp1.holdmm2nonmember.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.lkplhtvnj62vqd7cno5glgmb
holdforgedtoken2 lp1.holdforgedtoken2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.lwklyuxmycz2lbsiccsi43j3
modmm3moderated2 lp1.modmm3moderated2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.4uf6feo3hu7z5i2qt3vbxvvr
modmm2nonmember2 lp1.modmm2nonmember2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.5u7xjkptelyjhbwxzpnn7gqj
rejmm3automatic2 lp1.rejmm3automatic2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.rlxq7nsbiiejwaryij5rnf7q
rejmm3moderator2 lp1.rejmm3moderator2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.7ylpavy4eym7w6q532gosipy
rejmm2nonmember2 lp1.rejmm2nonmember2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.igxjbd2pmnb2fk7jmemdtvcu
rejmm2moderator2 lp1.rejmm2moderator2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.uxv6fwltvfm3kbhd7odirwgu
bouncepostfixunk lp1.bouncepostfixunk.1700000000.nzxwy2ltoragy2ltorzs4zlymfwxa3dffzxxezy.ea5basqqsbxouryrn26ty4km
bouncepostfixhdr lp1.bouncepostfixhdr.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.tctyabucpntuf5uobpexpgt6
bounceeximreject lp1.bounceeximreject.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.jkjc2u5wndp5ps3trsflikcp
bouncedovecotqta lp1.bouncedovecotqta.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.oz62to7qwdpnejdc5iuieguv
bouncemtaqmail22 lp1.bouncemtaqmail22.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.mfqe4qqo2mkmj7gautuz6b5i
bouncesievereje2 lp1.bouncesievereje2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.5ntixqbr6zheli257vikdpuq
delaypostfixwarn lp1.delaypostfixwarn.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.mvtajupv7cfntjlxbbq4r5hv
replytoprobecopy lp1.replytoprobecopy.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.xvoj3e5acw7bfxe5yzfh3g7j
forwardholdnote2 lp1.forwardholdnote2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.yio3vdrbl5kzvetjgajh45xe
quotedholdnote22 lp1.quotedholdnote22.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.ct7mf5oeqpf4istg3q7e4no6
""".strip().splitlines())


def subject_of(token):
    return "listprobe delivery test " + token


def probe(token, to=LIST):
    """The probe post as checks.Compose writes it."""
    m = Message()
    m["From"] = PROBE
    m["To"] = to
    m["Subject"] = subject_of(token)
    m["Date"] = "Tue, 14 Nov 2023 22:13:20 +0000"
    m["Message-ID"] = "<%s@example.org>" % token
    m["X-Listprobe-Token"] = token
    m["MIME-Version"] = "1.0"
    m["Content-Type"] = "text/plain; charset=us-ascii"
    m["Content-Transfer-Encoding"] = "7bit"
    m.set_payload(
        "This is an automated delivery test sent by listprobe, a monitor that\n"
        "checks that this mailing list delivers posts from its members.\n\n"
        "List:     %s\nSent at:  2023-11-14T22:13:20Z\nToken:    %s\n\n"
        "If you are a moderator and this message is waiting for approval, it is\n"
        "safe to discard it. The poster is a monitoring account; it does not read\n"
        "replies.\n" % (to, token))
    return m


def received(m, by, frm="mail.example.org", lmtp=False):
    """Adds what delivery adds on top (not among the fields listprobe fetches)."""
    m._headers.insert(0, ("Return-Path", "<%s>" % m["From"]))
    m._headers.insert(1, ("Received", "from %s (localhost [127.0.0.1])\n\tby %s (Postfix) with %s id 4SVb2d1xyz\n\tfor <%s>; %s" % (frm, by, "LMTP" if lmtp else "ESMTP", PROBE, DATE)))
    return m


def mm_wrap(text, column=70):
    """Mailman's wrap(): fill paragraphs, leave those that start with white space."""
    out = []
    for para in text.split("\n\n"):
        if para[:1].isspace() or not para.strip():
            out.append(para)
        else:
            out.append(textwrap.fill(" ".join(para.split()), column))
    return "\n\n".join(out)


def mm3_headers(m, list_headers=True, version="3.3.8"):
    """cook-headers and rfc-2369 of Mailman 3's virgin pipeline."""
    m["X-Mailman-Version"] = version
    if list_headers:
        m["List-Id"] = "Test list <%s>" % LISTID
        m["List-Help"] = "<mailto:test-request@lists.example.org?subject=help>"
        m["List-Owner"] = "<mailto:test-owner@lists.example.org>"
        m["List-Subscribe"] = "<mailto:test-join@lists.example.org>"
        m["List-Unsubscribe"] = "<mailto:test-leave@lists.example.org>"


def mm3_notification(to, frm, subject, text=None, msgid="<170000000531.1423.9182736455463728190@lists.example.org>", utf8=True):
    """Mailman 3's UserNotification followed by send()."""
    m = Message()
    charset = "utf-8" if utf8 else "us-ascii"
    if text is not None:
        if utf8:
            m.set_payload(text.encode("utf-8"), "utf-8")
        else:
            m.set_payload(text, Charset("us-ascii"))
    m["Subject"] = Header(subject, charset, header_name="Subject", errors="replace")
    m["From"] = frm
    m["To"] = to
    m["Message-ID"] = msgid
    m["Date"] = DATE
    m["Precedence"] = "bulk"
    return m


def mm2_notification(to, frm, subject, text=None, precedence="bulk", n=3):
    """Mailman 2.1's UserNotification, send() and CookHeaders."""
    m = Message()
    if text is not None:
        m.set_payload(text, Charset("us-ascii"))
    m["Subject"] = Header(subject, Charset("us-ascii"), header_name="Subject")
    m["From"] = frm
    m["To"] = to
    m["Message-ID"] = "<mailman.%d.1700000005.1234.test@lists.example.org>" % n
    m["Date"] = DATE
    m["Precedence"] = precedence
    m["X-BeenThere"] = LIST
    m["X-Mailman-Version"] = "2.1.39"
    m["List-Id"] = "Test list <%s>" % LISTID
    m["X-List-Administrivia"] = "yes"
    m["Errors-To"] = "test-bounces@lists.example.org"
    m["Sender"] = '"Test" <test-bounces@lists.example.org>'
    return m


def held(token, rule_hits="member-moderation"):
    """The post as Mailman 3 holds it: with the headers its pipeline added."""
    m = probe(token)
    m._headers.insert(0, ("Received", "from mail.example.org (mail.example.org [127.0.0.1])\n\tby lists.example.org (Postfix) with ESMTPS id 4SVb2c0abc\n\tfor <%s>; %s" % (LIST, DATE)))
    m._headers.insert(0, ("Return-Path", "<%s>" % PROBE))
    m["X-MailFrom"] = PROBE
    m["X-Mailman-Rule-Hits"] = rule_hits
    m["X-Mailman-Rule-Misses"] = "dmarc-mitigation; no-senders; approved; loop; banned-address; emergency"
    m["Message-ID-Hash"] = "QZ7XAVJ5PWCK3ARGUAKSRT3JKXYN6GXD"
    m["X-Message-ID-Hash"] = "QZ7XAVJ5PWCK3ARGUAKSRT3JKXYN6GXD"
    return m


HOLD3 = """\
Your mail to '$listname' with the subject

    $subject

Is being held until the list moderator can review it for approval.

The message is being held because:

$reasons

Either the message will get posted to the list, or you will receive
notification of the moderator's decision.
"""

ADMINPOST3 = """\
As list administrator, your authorization is requested for the
following mailing list posting:

    List:    $listname
    From:    $sender_email
    Subject: $subject

The message is being held because:

$reasons

At your convenience, visit your dashboard to approve or deny the
request.
"""

CONFIRM_STUB = """\
If you reply to this message, keeping the Subject: header intact, Mailman will
discard the held message.  Do this if the message is spam.  If you reply to
this message and include an Approved: header with the list password in it, the
message will be approved for posting to the list.  The Approved: header can
also appear in the first line of the body of the reply."""

REJECTED3 = """\
Your message to the $listname mailing-list was rejected for the following
reasons:

$reasons

The original message as received by Mailman is attached.
"""

REFUSE3 = """\
Your request to the $listname mailing list

    $request

has been rejected by the list moderator.  The moderator gave the
following reason for rejecting your request:

"$reason"

Any questions or comments should be directed to the list administrator
at:

    $owner_email
"""

NOMORE3 = """\
We have received a message from your address <$sender_email>
requesting an automated response from the $listname mailing list.

The number we have seen today: $count.  In order to avoid problems such as
mail loops between email robots, we will not be sending you any further
responses today.  Please try again tomorrow.

If you believe this message is in error, or if you have any questions, please
contact the list owner at $owner_email.
"""

POSTHELD2 = """\
Your mail to '%(listname)s' with the subject

    %(subject)s

Is being held until the list moderator can review it for approval.

The reason it is being held:

    %(reason)s

Either the message will get posted to the list, or you will receive
notification of the moderator's decision.  If you would like to cancel
this posting, please visit the following URL:

    %(confirmurl)s

"""

POSTAUTH2 = """\
As list administrator, your authorization is requested for the
following mailing list posting:

    List:    %(listname)s@%(hostname)s
    From:    %(sender)s
    Subject: %(subject)s
    Reason:  %(reason)s

At your convenience, visit:

    %(admindb_url)s

to approve or deny the request.
"""

REFUSE2 = """\
Your request to the %(listname)s mailing list

    %(request)s

has been rejected by the list moderator.  The moderator gave the
following reason for rejecting your request:

"%(reason)s"

Any questions or comments should be directed to the list administrator
at:

    %(adminaddr)s
"""

NOMORE2 = """\
We have received a message from your address <%(sender)s> requesting an
automated response from the %(listname)s mailing list.  We have seen %(num)s
such messages today.  In order to avoid problems such as mail loops between
email robots, we will not be sending you any further responses today.  Please
try again tomorrow.

If you believe this message is in error, or if you have any questions, please
contact the list owner at %(owneremail)s."""


def expand(template, **kw):
    out = template
    for k in sorted(kw, key=len, reverse=True):
        out = out.replace("$" + k, str(kw[k]))
    return out


def reasons3(reasons, column=66):
    return "\n".join("    " + textwrap.fill(r, column) for r in reasons)


def write(name, msg, crlf=False):
    text = msg if isinstance(msg, str) else msg.as_string()
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    with open(os.path.join(HERE, name), "w", newline="") as f:
        f.write(text)


def mm3_hold(token, reasons, name, utf8=True, list_headers=True, subject_token=True, crlf=False):
    subject = subject_of(token) if subject_token else "Agenda for Thursday's meeting"
    text = mm_wrap(expand(HOLD3, listname=LIST, subject=subject, reasons=reasons3(reasons)))
    m = mm3_notification(PROBE, "test-bounces@lists.example.org",
                         "Your message to %s awaits moderator approval" % LIST, text, utf8=utf8)
    mm3_headers(m, list_headers=list_headers, version="3.3.8" if utf8 else "3.2.2")
    write(name, received(m, "mail.example.org", "lists.example.org"), crlf)


def mm3_moderator(token, reasons, name, sender=PROBE, post=None):
    subject = "%s post from %s requires approval" % (LIST, sender)
    nmsg = mm3_notification("test-owner@lists.example.org", "test-owner@lists.example.org", subject,
                            msgid="<170000000532.1423.9182736455463728191@lists.example.org>")
    nmsg.set_type("multipart/mixed")
    nmsg.set_boundary("===============5327410967183651024==")
    charset = Charset("us-ascii")
    charset.header_encoding = SHORTEST
    charset.body_encoding = QP
    post = post or held(token)
    text = MIMEText(expand(ADMINPOST3, listname=LIST, sender_email=sender,
                           subject=str(post["Subject"]).replace("\n", ""), reasons=reasons3(reasons, 55)),
                    _charset=charset)
    dmsg = MIMEText(mm_wrap(CONFIRM_STUB), _charset=charset)
    dmsg["Subject"] = "confirm 8d7e4a1b9c0f2e3d4c5b6a798812fedcba987654"
    dmsg["From"] = "test-request@lists.example.org"
    dmsg["Date"] = DATE
    dmsg["Message-ID"] = "<170000000533.1423.9182736455463728192@lists.example.org>"
    nmsg.attach(text)
    nmsg.attach(MIMEMessage(post))
    nmsg.attach(MIMEMessage(dmsg))
    mm3_headers(nmsg)
    write(name, nmsg)


def main():
    # Probe copies.
    c = probe(T["copymm3listcopy2"])
    c.replace_header("Subject", "[Test] " + subject_of(T["copymm3listcopy2"]))
    c["X-MailFrom"] = PROBE
    c["X-Mailman-Rule-Misses"] = "dmarc-mitigation; no-senders; approved; loop; banned-address; emergency; member-moderation; nonmember-moderation; administrivia; implicit-dest; max-recipients; max-size; news-moderation; no-subject; digests; suspicious-header"
    c["Message-ID-Hash"] = "GQ2W3ZQXKTXZ5ZKVLUV6T2YSCGC3M7WA"
    c["X-Message-ID-Hash"] = "GQ2W3ZQXKTXZ5ZKVLUV6T2YSCGC3M7WA"
    c["X-Mailman-Version"] = "3.3.8"
    c["Precedence"] = "list"
    c["List-Id"] = "Test list <%s>" % LISTID
    c["Archived-At"] = "<https://lists.example.org/archives/list/test@lists.example.org/message/GQ2W3ZQXKTXZ5ZKVLUV6T2YSCGC3M7WA/>"
    c["List-Archive"] = "<https://lists.example.org/archives/list/test@lists.example.org/>"
    c["List-Help"] = "<mailto:test-request@lists.example.org?subject=help>"
    c["List-Owner"] = "<mailto:test-owner@lists.example.org>"
    c["List-Post"] = "<mailto:test@lists.example.org>"
    c["List-Subscribe"] = "<mailto:test-join@lists.example.org>"
    c["List-Unsubscribe"] = "<mailto:test-leave@lists.example.org>"
    c.set_payload(c.get_payload() + "_______________________________________________\nTest list -- test@lists.example.org\nTo unsubscribe send an email to test-leave@lists.example.org\n")
    write("probe_copy-mailman3-list-copy.eml", c, crlf=True)

    # A list that strips X- fields, rewrites the Message-ID and munges From.
    c = probe(T["copysubjectonly2"])
    del c["X-Listprobe-Token"]
    c.replace_header("Message-ID", "<20231114221321.ab12cd@lists.example.org>")
    c.replace_header("From", '"probe via Test" <test@lists.example.org>')
    c.replace_header("Subject", "[Test] " + subject_of(T["copysubjectonly2"]))
    c["Reply-To"] = PROBE
    c["List-Id"] = "<%s>" % LISTID
    c["Precedence"] = "list"
    write("probe_copy-stripped-headers.eml", c)

    # Mailman 3 hold notices.
    mm3_hold(T["holdmm3moderated"], ["The message comes from a moderated member"],
             "hold_notice-mailman3-moderated-member.eml", utf8=False, list_headers=False, crlf=True)
    mm3_hold(T["holdmm3nonmember"], ["The message is not from a list member",
                                     "The message is larger than the 40 KB maximum size"],
             "hold_notice-mailman3-nonmember-base64.eml")
    mm3_hold(T["holdforgedtoken2"], ["The message comes from a moderated member"],
             "hold_notice-mailman3-forged-token.eml")
    mm3_hold("", ["The message is not from a list member"],
             "hold_notice-mailman3-someone-elses-post.eml", subject_token=False)

    # Mailman 2.1 hold notice (postheld.txt, from -owner).
    text = mm_wrap(POSTHELD2 % dict(listname="Test", subject=subject_of(T["holdmm2nonmember"]),
                                    reason="Post by non-member to a members-only list",
                                    confirmurl="https://lists.example.org/mailman/confirm/test/1f0e2d3c4b5a69788796a5b4c3d2e1f001234567"))
    m = mm2_notification(PROBE, "test-owner@lists.example.org", "Your message to Test awaits moderator approval", text)
    write("hold_notice-mailman2-nonmember.eml", received(m, "mail.example.org", "lists.example.org"))

    # Moderator notices.
    mm3_moderator(T["modmm3moderated2"], ["The message comes from a moderated member"],
                  "moderator_notice-mailman3-moderated-member.eml")
    other = Message()
    other["From"] = "Carol <carol@example.net>"
    other["To"] = LIST
    other["Subject"] = "Agenda for Thursday's meeting"
    other["Date"] = DATE
    other["Message-ID"] = "<5f3c2a10-9d7e-4c2b-8a41-0f6e2b7c9d11@example.net>"
    other["X-Mailman-Rule-Hits"] = "nonmember-moderation"
    other.set_payload("Hi all,\n\nthe agenda is attached to the wiki page.\n\nCarol\n")
    mm3_moderator("", ["The message is not from a list member"],
                  "moderator_notice-mailman3-someone-elses-post.eml", sender="carol@example.net", post=other)

    post = held(T["modmm2nonmember2"], rule_hits="")
    del post["X-Mailman-Rule-Hits"]
    del post["X-Mailman-Rule-Misses"]
    del post["X-MailFrom"]
    del post["Message-ID-Hash"]
    del post["X-Message-ID-Hash"]
    n = mm2_notification("test-owner@lists.example.org", "test-owner@lists.example.org",
                         "Test post from %s requires approval" % PROBE, precedence="list", n=2)
    n.set_type("multipart/mixed")
    n.set_boundary("===============6386874433261644057==")
    n.attach(MIMEText(POSTAUTH2 % dict(listname="Test", hostname="lists.example.org", sender=PROBE,
                                       subject=subject_of(T["modmm2nonmember2"]),
                                       reason="Post by non-member to a members-only list",
                                       admindb_url="https://lists.example.org/mailman/admindb/test"), _charset="us-ascii"))
    n.attach(MIMEMessage(post))
    d = MIMEText(mm_wrap(CONFIRM_STUB), _charset="us-ascii")
    d["Subject"] = "confirm 48031ac272fc2898a28b5d39a56b1a2c79ee2eef"
    d["Sender"] = "test-request@lists.example.org"
    d["From"] = "test-request@lists.example.org"
    d["Date"] = DATE
    d["Message-ID"] = "<mailman.1.1700000005.1234.test@lists.example.org>"
    n.attach(MIMEMessage(d))
    write("moderator_notice-mailman2-nonmember.eml", n, crlf=True)

    # Mailman 3 automatic rejection (bounce_message).
    orig = held(T["rejmm3automatic2"])
    r = mm3_notification(PROBE, "test-owner@lists.example.org", " ".join(str(orig["Subject"]).split()), utf8=True)
    r.set_type("multipart/mixed")
    r.set_boundary("===============2061390391958396843==")
    r.attach(MIMEText(expand(REJECTED3, listname="Test", reasons="The message comes from a moderated member"), _charset="us-ascii"))
    r.attach(MIMEMessage(orig))
    mm3_headers(r)
    write("rejection-mailman3-moderated-member.eml", received(r, "mail.example.org", "lists.example.org"))

    # Mailman 3 moderator refusal (send_rejection).
    text = mm_wrap(expand(REFUSE3, listname=LIST, request='Posting of your message titled "%s"' % subject_of(T["rejmm3moderator2"]),
                          reason="Automated test posts are not wanted on this list, please stop sending them", owner_email="test-owner@lists.example.org"))
    r = mm3_notification(PROBE, "test-bounces@lists.example.org", 'Request to mailing list "Test" rejected', text)
    mm3_headers(r)
    write("rejection-mailman3-moderator-refused.eml", r)

    # Mailman 2.1 automatic rejection of a non-member (Moderate.do_reject).
    orig = probe(T["rejmm2nonmember2"])
    notice = mm_wrap("""Your message has been rejected, probably because you are not subscribed to the
mailing list and the list's policy is to prohibit non-members from posting to
it.  If you think that your messages are being rejected in error, contact the
mailing list owner at test-owner@lists.example.org.""")
    r = mm2_notification(PROBE, "test-owner@lists.example.org", subject_of(T["rejmm2nonmember2"]), n=4)
    r.set_type("multipart/mixed")
    r.set_boundary("===============0123456789012345678==")
    r.attach(MIMEText(notice, _charset="us-ascii"))
    r.attach(MIMEMessage(orig))
    write("rejection-mailman2-nonmember.eml", r)

    # Mailman 2.1 moderator refusal (ListAdmin.__refuse).
    text = mm_wrap(REFUSE2 % dict(listname="Test", request='Posting of your message titled "%s"' % subject_of(T["rejmm2moderator2"]),
                                  reason="Non-members are not allowed to post messages to this list.",
                                  adminaddr="test-owner@lists.example.org"))
    r = mm2_notification(PROBE, "test-bounces@lists.example.org", "Request to mailing list Test rejected", text, n=5)
    write("rejection-mailman2-moderator-refused.eml", r, crlf=True)

    # Notice limits.
    text = mm_wrap(expand(NOMORE3, sender_email=PROBE, listname=LIST, count=10, owner_email="test-owner@lists.example.org"))
    m = mm3_notification(PROBE, "test-owner@lists.example.org", "Last autoresponse notification for today", text)
    mm3_headers(m)
    write("notice_limit-mailman3.eml", m)
    text = mm_wrap(NOMORE2 % dict(sender=PROBE, listname=LIST, num=10, owneremail="test-owner@lists.example.org"))
    write("notice_limit-mailman2.eml", mm2_notification(PROBE, "test-owner@lists.example.org",
                                                        "Last autoresponse notification for today", text, n=6))

    # A Mailman 3 welcome message: from the list's robot, but no evidence.
    m = mm3_notification(PROBE, "test-request@lists.example.org", 'Welcome to the "Test" mailing list',
                         'Welcome to the "Test" mailing list!\n\nTo post to this list, send your email to:\n\n  test@lists.example.org\n')
    mm3_headers(m)
    write("unrelated-mailman3-welcome.eml", m)

    write_literal()


def b64(s):
    return "\n".join(textwrap.wrap(base64.b64encode(s.encode()).decode(), 76))


def write_literal():
    tok = T["bouncepostfixunk"]
    p = probe(tok, to="nolist@lists.example.org").as_string()
    write("bounce-postfix-unknown-list.eml", """\
Return-Path: <>
Delivered-To: probe@example.org
Received: by mail.example.org (Postfix)
	id 4B1C42E0A6; Tue, 14 Nov 2023 22:13:21 +0000 (UTC)
Date: Tue, 14 Nov 2023 22:13:21 +0000 (UTC)
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: probe@example.org
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4B1C42E0A5.1700000001/mail.example.org"
Content-Transfer-Encoding: 8bit
Message-Id: <20231114221321.4B1C42E0A6@mail.example.org>

This is a MIME-encapsulated message.

--4B1C42E0A5.1700000001/mail.example.org
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<nolist@lists.example.org>: host lists.example.org[127.0.0.1] said: 550 5.1.1
    <nolist@lists.example.org>: Recipient address rejected: User unknown in
    local recipient table (in reply to RCPT TO command)

--4B1C42E0A5.1700000001/mail.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
X-Postfix-Queue-ID: 4B1C42E0A5
X-Postfix-Sender: rfc822; probe@example.org
Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)

Final-Recipient: rfc822; nolist@lists.example.org
Original-Recipient: rfc822;nolist@lists.example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; lists.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nolist@lists.example.org>: Recipient address
    rejected: User unknown in local recipient table

--4B1C42E0A5.1700000001/mail.example.org
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <probe@example.org>
Received: from [127.0.0.1] (localhost [127.0.0.1])
	(Authenticated sender: probe@example.org)
	by mail.example.org (Postfix) with ESMTPSA id 4B1C42E0A5
	for <nolist@lists.example.org>; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)
%s
--4B1C42E0A5.1700000001/mail.example.org--
""" % p)

    tok = T["bouncepostfixhdr"]
    ph = probe(tok)
    hdrs = "".join("%s: %s\n" % (k, v) for k, v in ph.items())
    write("bounce-postfix-headers-only.eml", """\
Return-Path: <>
Date: Tue, 14 Nov 2023 22:13:21 +0000 (UTC)
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: probe@example.org
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="7C2D53F1B6.1700000001/mail.example.org"
Content-Transfer-Encoding: 8bit
Message-Id: <20231114221321.7C2D53F1B7@mail.example.org>

This is a MIME-encapsulated message.

--7C2D53F1B6.1700000001/mail.example.org
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<test@lists.example.org>: host lists.example.org[127.0.0.1] said: 552 5.3.4
    Message size exceeds fixed limit (in reply to end of DATA command)

--7C2D53F1B6.1700000001/mail.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
X-Postfix-Queue-ID: 7C2D53F1B6
X-Postfix-Sender: rfc822; probe@example.org
Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)

Final-Recipient: rfc822; test@lists.example.org
Original-Recipient: rfc822;test@lists.example.org
Action: failed
Status: 5.3.4
Remote-MTA: dns; lists.example.org
Diagnostic-Code: smtp; 552 5.3.4 Message size exceeds fixed limit

--7C2D53F1B6.1700000001/mail.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <probe@example.org>
Received: from [127.0.0.1] (localhost [127.0.0.1])
	by mail.example.org (Postfix) with ESMTPSA id 7C2D53F1B6
	for <test@lists.example.org>; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)
%s
--7C2D53F1B6.1700000001/mail.example.org--
""" % hdrs)

    tok = T["bounceeximreject"]
    write("bounce-exim-rejected.eml", """\
Return-path: <>
Envelope-to: probe@example.org
Delivery-date: Tue, 14 Nov 2023 22:13:22 +0000
Received: from Debian-exim by mail.example.org with local (Exim 4.96)
	id 1r32Lq-0003Ab-0X
	for probe@example.org;
	Tue, 14 Nov 2023 22:13:22 +0000
X-Failed-Recipients: test@lists.example.org
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mail.example.org>
To: probe@example.org
References: <%(tok)s@example.org>
Content-Type: multipart/report; report-type=delivery-status; boundary=1700000002-eximdsn-1804289383
MIME-Version: 1.0
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1r32Lq-0003Ab-0X@mail.example.org>
Date: Tue, 14 Nov 2023 22:13:22 +0000

--1700000002-eximdsn-1804289383
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  test@lists.example.org
    host lists.example.org [127.0.0.1]
    SMTP error from remote mail server after end of data:
    550 5.7.1 Posting to this list is restricted

--1700000002-eximdsn-1804289383
Content-type: message/delivery-status

Reporting-MTA: dns; mail.example.org

Action: failed
Final-Recipient: rfc822;test@lists.example.org
Status: 5.0.0
Remote-MTA: dns; lists.example.org
Diagnostic-Code: smtp; 550 5.7.1 Posting to this list is restricted

--1700000002-eximdsn-1804289383
Content-type: message/rfc822

Return-path: <probe@example.org>
Received: from [127.0.0.1] (helo=localhost)
	by mail.example.org with esmtpsa (Exim 4.96)
	(envelope-from <probe@example.org>)
	id 1r32Lp-0003AY-2a
	for test@lists.example.org;
	Tue, 14 Nov 2023 22:13:21 +0000
%(probe)s
--1700000002-eximdsn-1804289383--
""" % dict(tok=tok, probe=probe(tok).as_string()))

    tok = T["bouncedovecotqta"]
    ph = probe(tok)
    del ph["Content-Type"]
    hdrs = "".join("%s: %s\n" % (k, v) for k, v in ph.items())
    write("bounce-dovecot-quota.eml", ("""\
Message-ID: <dovecot-1700000003-12345-0@lists.example.org>
Date: Tue, 14 Nov 2023 22:13:23 +0000
From: Mail Delivery Subsystem <postmaster@lists.example.org>
To: <probe@example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="12345/lists.example.org"
Subject: Rejected: listprobe delivery test lp1.bouncedovecotqta.1700000000.orsxg5canruxg5dt...
Auto-Submitted: auto-replied (rejected)
Precedence: bulk

This is a MIME-encapsulated message

--12345/lists.example.org
Content-Type: text/plain; charset=utf-8
Content-Disposition: inline
Content-Transfer-Encoding: 8bit

Your message to <test@lists.example.org> was automatically rejected:
Quota exceeded (mailbox for user is full)

--12345/lists.example.org
Content-Type: message/delivery-status

Reporting-MTA: dns; lists.example.org
Final-Recipient: rfc822; test@lists.example.org
Action: failed
Status: 5.2.2

--12345/lists.example.org
Content-Type: message/rfc822

%s

--12345/lists.example.org--
""" % hdrs), crlf=True)

    tok = T["bouncesievereje2"]
    ph = probe(tok)
    del ph["Content-Type"]
    hdrs = "".join("%s: %s\n" % (k, v) for k, v in ph.items())
    write("bounce-dovecot-sieve-reject.eml", """\
Message-ID: <dovecot-sieve-1700000004-23456-0@lists.example.org>
Date: Tue, 14 Nov 2023 22:13:24 +0000
From: Mail Delivery Subsystem <postmaster@lists.example.org>
To: <probe@example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification;
	boundary="23456/lists.example.org"
Subject: Rejected: listprobe delivery test lp1.bouncesievereje2.1700000000.orsxg5canruxg5dt...
Auto-Submitted: auto-replied (rejected)
Precedence: bulk

This is a MIME-encapsulated message

--23456/lists.example.org
Content-Type: text/plain; charset=utf-8
Content-Disposition: inline
Content-Transfer-Encoding: 8bit

Your message to <test@lists.example.org> was automatically rejected:
Posts from monitoring accounts are not accepted here

--23456/lists.example.org
Content-Type: message/disposition-notification

Reporting-UA: lists.example.org; Dovecot Mail Delivery Agent
Final-Recipient: rfc822; test@lists.example.org
Original-Message-ID: <%s@example.org>
Disposition: automatic-action/MDN-sent-automatically; deleted

--23456/lists.example.org
Content-Type: message/rfc822

%s

--23456/lists.example.org--
""" % (tok, hdrs))

    tok = T["bouncemtaqmail22"]
    write("bounce-mta-qmail-plain.eml", """\
Return-Path: <>
Date: 14 Nov 2023 22:13:22 -0000
From: MAILER-DAEMON@mail.example.org
To: probe@example.org
Subject: failure notice
Message-ID: <20231114221322.12345.qmail@mail.example.org>

Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<test@lists.example.org>:
127.0.0.1 does not like recipient.
Remote host said: 550 5.1.1 <test@lists.example.org>: Recipient address rejected: list closed
Giving up on 127.0.0.1.

--- Below this line is a copy of the message.

Return-Path: <probe@example.org>
Received: (qmail 12340 invoked by uid 89); 14 Nov 2023 22:13:21 -0000
%s""" % probe(tok).as_string())

    tok = T["delaypostfixwarn"]
    ph = probe(tok)
    hdrs = "".join("%s: %s\n" % (k, v) for k, v in ph.items())
    write("unrelated-postfix-delay-warning.eml", """\
Date: Wed, 15 Nov 2023 02:13:21 +0000 (UTC)
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Delayed Mail (still being retried)
To: probe@example.org
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="9E3F64A2C7.1700014401/mail.example.org"
Content-Transfer-Encoding: 8bit
Message-Id: <20231115021321.9E3F64A2C8@mail.example.org>

This is a MIME-encapsulated message.

--9E3F64A2C7.1700014401/mail.example.org
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.example.org.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for 4.0 hours.
It will be retried until it is 5.0 days old.

                   The mail system

<test@lists.example.org>: connect to lists.example.org[127.0.0.1]:25:
    Connection refused

--9E3F64A2C7.1700014401/mail.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
X-Postfix-Queue-ID: 9E3F64A2C7
X-Postfix-Sender: rfc822; probe@example.org
Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)

Final-Recipient: rfc822; test@lists.example.org
Original-Recipient: rfc822;test@lists.example.org
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to lists.example.org[127.0.0.1]:25:
    Connection refused
Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000 (UTC)

--9E3F64A2C7.1700014401/mail.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

%s
--9E3F64A2C7.1700014401/mail.example.org--
""" % hdrs)

    # People: a forward, a reply quoting a notice, a reply to a probe copy.
    tok = T["forwardholdnote2"]
    write("unrelated-forwarded-hold-notice.eml", """\
From: Alice Admin <alice@example.org>
To: bob@example.org
Subject: Fwd: Your message to test@lists.example.org awaits moderator approval
Date: Tue, 14 Nov 2023 23:01:00 +0000
Message-ID: <8a1b2c3d-fwd@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit
User-Agent: Mozilla Thunderbird

Bob, is this expected? The monitor's post got held.

-------- Forwarded Message --------
Subject: 	Your message to test@lists.example.org awaits moderator approval
Date: 	Tue, 14 Nov 2023 22:13:25 +0000
From: 	test-bounces@lists.example.org
To: 	probe@example.org

Your mail to 'test@lists.example.org' with the subject

     listprobe delivery test %s

Is being held until the list moderator can review it for approval.

The message is being held because:

     The message comes from a moderated member

Either the message will get posted to the list, or you will receive
notification of the moderator's decision.
""" % tok)

    tok = T["quotedholdnote22"]
    write("unrelated-reply-quoting-hold-notice.eml", """\
From: Bob <bob@example.org>
To: Alice Admin <alice@example.org>
Subject: Re: Fwd: Your message to test@lists.example.org awaits moderator
 approval
Date: Tue, 14 Nov 2023 23:15:00 +0000
Message-ID: <9f8e7d6c-reply@example.org>
In-Reply-To: <8a1b2c3d-fwd@example.org>
References: <8a1b2c3d-fwd@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Auto-Submitted: no

Yes, that list is moderated on purpose.

On 14/11/2023 23:01, Alice Admin wrote:
> -------- Forwarded Message --------
> From: test-bounces@lists.example.org
>
> Your mail to 'test@lists.example.org' with the subject
>
>      listprobe delivery test %s
>
> Is being held until the list moderator can review it for approval.
>
> The message is being held because:
>
>      The message comes from a moderated member
""" % tok)

    tok = T["replytoprobecopy"]
    write("unrelated-reply-to-probe-copy.eml", """\
From: Bob <bob@example.org>
To: test@lists.example.org
Subject: Re: [Test] listprobe delivery test %(tok)s
Date: Tue, 14 Nov 2023 23:20:00 +0000
Message-ID: <0c1d2e3f-reply@example.org>
In-Reply-To: <%(tok)s@example.org>
References: <%(tok)s@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
X-Mailman-Version: 3.3.8
Precedence: list
List-Id: Test list <test.lists.example.org>
List-Post: <mailto:test@lists.example.org>

Who keeps sending these?

> Token:    %(tok)s
""" % dict(tok=tok))


if __name__ == "__main__":
    main()
