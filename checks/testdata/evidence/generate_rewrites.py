#!/usr/bin/env python3
"""Writes the fixtures of issue 7 (which messages are a list's copy of a
probe, and which only mention one) and of issue 9 (moderator approval).

List rewrites that are still copies, built as Mailman 3.3 builds them
(handlers/dmarc.py munge_from and wrap_message, anonymous_list in
handlers/cook_headers.py) and as Sympa 6.2 does with dmarc_protection:
- munge_from: From "poster via List" <list@>, poster in Reply-To, the
  Message-ID kept;
- wrap_message: a new message from the list, new Message-ID, the post
  attached whole as message/rfc822;
- anonymous_list: From and Reply-To the list, a new Message-ID, only the
  Subject carries the token;
- Sympa: "poster" (via Test Mailing List) <test@>, X-Original-From;
- a copy released by a moderator (X-Mailman-Approved-At; Sympa's
  X-Validation-by).
People and digests that mention a probe, which are never copies: forwards
under Spanish, Italian, Dutch, Netscape and Pine conventions, a reply that
quotes a probe in its body, a probe attached by a person, Mailman's MIME
and RFC 1153 digests (their tables of contents say "rejected"), a reply
through an anonymous list, a notice of another list naming a probe, and a
DSN about one subscriber. Bounces with 8-bit and declared charsets, and one
whose returned header lost the token field.

Tokens are signed with the test key in evidence_test.go. Run:
python3 generate_rewrites.py
"""

import base64
import hashlib
import hmac
import os

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"listprobe-evidence-fixture-key-1"
LIST = "test@lists.example.org"
LISTID = "test.lists.example.org"
PROBE = "probe@example.org"
DATE = "Tue, 14 Nov 2023 22:13:25 +0000"


def b32(b):
    return base64.b32encode(b).decode().lower().rstrip("=")


def token(pid, lst=LIST, secs=1700000000):
    body = f"lp1.{pid}.{secs}.{b32(lst.encode())}"
    return body + "." + b32(hmac.new(KEY, body.encode(), hashlib.sha256).digest()[:15])


def subject_of(tok):
    return "listprobe delivery test " + tok


def probe_body(tok, lst=LIST):
    return (
        "This is an automated delivery test sent by listprobe, a monitor that\n"
        "checks that this mailing list delivers posts from its members.\n\n"
        f"List:     {lst}\n"
        "Sent at:  2023-11-14T22:13:20Z\n"
        f"Token:    {tok}\n\n"
        "If you are a moderator and this message is waiting for approval, it is\n"
        "safe to discard it. The poster is a monitoring account; it does not read\n"
        "replies.\n"
    )


def probe(tok, lst=LIST, extra=""):
    return (
        f"From: {PROBE}\n"
        f"To: {lst}\n"
        f"Subject: {subject_of(tok)}\n"
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
        f"Message-ID: <{tok}@example.org>\n"
        f"X-Listprobe-Token: {tok}\n"
        + extra
        + "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Content-Transfer-Encoding: 7bit\n\n" + probe_body(tok, lst)
    )


LIST_FIELDS = (
    "X-Mailman-Version: 3.3.8\n"
    "Precedence: list\n"
    f"List-Id: Test list <{LISTID}>\n"
    "List-Help: <mailto:test-request@lists.example.org?subject=help>\n"
    "List-Owner: <mailto:test-owner@lists.example.org>\n"
    f"List-Post: <mailto:{LIST}>\n"
    "List-Subscribe: <mailto:test-join@lists.example.org>\n"
    "List-Unsubscribe: <mailto:test-leave@lists.example.org>\n"
)

RECEIVED_COPY = (
    "Received: from mail.example.org\n"
    "\tby mail.example.org with LMTP\n"
    "\tid 6Hc2BvbyU2Wq5AAAg+zDdQ\n"
    "\t(envelope-from <test-bounces@lists.example.org>)\n"
    "\tfor <reader@example.org>; Tue, 14 Nov 2023 22:13:22 +0000\n"
    "Received: from lists.example.org (localhost [127.0.0.1])\n"
    "\tby mail.example.org (Postfix) with ESMTP id 4SVb2c0xyz\n"
    "\tfor <reader@example.org>; Tue, 14 Nov 2023 22:13:21 +0000 (UTC)\n"
    "Received: from [127.0.0.1] (localhost [127.0.0.1])\n"
    "\tby mail.example.org (Postfix) with ESMTPSA id 4SVb2b6abc\n"
    "\tfor <test@lists.example.org>; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)\n"
)

FOOTER = (
    "_______________________________________________\n"
    "Test mailing list -- test@lists.example.org\n"
    "To unsubscribe send an email to test-leave@lists.example.org\n"
)

T = {pid: token(pid) for pid in """
copydmarcmunge22 copywrapmessage2 copyanonymous222 copysympavia2222 copyapproved2222
fwdspanishrv2222 fwditalian222222 fwdnetscape22222 fwdpinesuffix222 replyquotesbody2
attachedbyperson mimedigestprobe2 plaindigestprob2 anonreplytoprobe
bouncelostheader dsnsubscriber222 dsnlatindiagnost dsnisojapanese22
otherlistsprobe2
""".split()}


def write(name, text):
    with open(os.path.join(HERE, name), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_bytes(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    tok = T["copydmarcmunge22"]
    write("probe_copy-mailman3-dmarc-munge-from.eml",
          RECEIVED_COPY
          + 'From: "probe--- via Test" <test@lists.example.org>\n'
          f"To: {LIST}\n"
          f"Reply-To: {PROBE}\n"
          f"Subject: [Test] {subject_of(tok)}\n"
          "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
          f"Message-ID: <{tok}@example.org>\n"
          f"X-Listprobe-Token: {tok}\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=us-ascii\n"
          "Content-Transfer-Encoding: 7bit\n"
          + LIST_FIELDS + "\n" + probe_body(tok) + FOOTER)

    tok = T["copywrapmessage2"]
    write("probe_copy-mailman3-wrap-message.eml",
          RECEIVED_COPY
          + f"Subject: [Test] {subject_of(tok)}\n"
          f"To: {LIST}\n"
          "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
          "MIME-Version: 1.0\n"
          "Message-ID: <170000000212.4711.1234567890123456789@lists.example.org>\n"
          'From: "probe--- via Test" <test@lists.example.org>\n'
          f"Reply-To: {PROBE}\n"
          f"Cc: {PROBE}\n"
          + LIST_FIELDS
          + 'Content-Type: multipart/mixed; boundary="===============4711=="\n\n'
          "--===============4711==\n"
          'Content-Type: text/plain; charset="us-ascii"\n'
          "Content-Transfer-Encoding: 7bit\n\n"
          "The original message has been attached.\n"
          "--===============4711==\n"
          "Content-Type: message/rfc822\n"
          "MIME-Version: 1.0\n\n"
          + probe(tok)
          + "--===============4711==--\n")

    tok = T["copyanonymous222"]
    write("probe_copy-mailman3-anonymous-list.eml",
          RECEIVED_COPY
          + "From: Test <test@lists.example.org>\n"
          f"To: {LIST}\n"
          "Reply-To: Test <test@lists.example.org>\n"
          f"Subject: [Test] {subject_of(tok)}\n"
          "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
          "Message-ID: <170000000213.4712.9876543210987654321@lists.example.org>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=us-ascii\n"
          "Content-Transfer-Encoding: 7bit\n"
          + LIST_FIELDS + "\n" + probe_body(tok) + FOOTER)

    tok = T["copysympavia2222"]
    write("probe_copy-sympa-dmarc-via.eml",
          "Received: from lists.example.org (localhost [127.0.0.1])\n"
          "\tby mail.example.org (Postfix) with ESMTP id 4SVb2c1sym\n"
          "\tfor <reader@example.org>; Tue, 14 Nov 2023 22:13:21 +0000 (UTC)\n"
          + 'From: "probe" (via Test Mailing List) <test@lists.example.org>\n'
          f"X-Original-From: {PROBE}\n"
          f"Reply-To: {PROBE}\n"
          f"To: {LIST}\n"
          f"Subject: [test] {subject_of(tok)}\n"
          "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
          f"Message-ID: <{tok}@example.org>\n"
          f"X-Listprobe-Token: {tok}\n"
          "X-Loop: test@lists.example.org\n"
          "X-Sequence: 42\n"
          "Errors-To: test-owner@lists.example.org\n"
          "Precedence: list\n"
          "Precedence: bulk\n"
          "Sender: test-request@lists.example.org\n"
          f"List-Id: <{LISTID}>\n"
          f"List-Post: <mailto:{LIST}>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=us-ascii\n"
          "Content-Transfer-Encoding: 7bit\n\n" + probe_body(tok))

    tok = T["copyapproved2222"]
    write("probe_copy-mailman3-approved-by-moderator.eml",
          RECEIVED_COPY
          + f"From: {PROBE}\n"
          f"To: {LIST}\n"
          f"Subject: [Test] {subject_of(tok)}\n"
          "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
          f"Message-ID: <{tok}@example.org>\n"
          f"X-Listprobe-Token: {tok}\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=us-ascii\n"
          "Content-Transfer-Encoding: 7bit\n"
          "X-Mailman-Approved-At: Tue, 14 Nov 2023 22:15:05 +0000\n"
          "X-Mailman-Rule-Hits: member-moderation\n"
          + LIST_FIELDS + "\n" + probe_body(tok) + FOOTER)

    # People forwarding a probe copy they got from the list.
    tok = T["fwdspanishrv2222"]
    write("unrelated-forward-outlook-spanish-rv.eml",
          "From: Ana <ana@example.org>\n"
          "To: reader@example.org\n"
          f"Subject: RV: [Test] {subject_of(tok)}\n"
          "Date: Tue, 14 Nov 2023 23:00:00 +0000\n"
          "Message-ID: <DM6PR01MB1234ABCD@example.org>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=us-ascii\n\n"
          "¿Qué es esto?\n\n"
          "-----Mensaje original-----\n"
          "De: probe@example.org\n"
          f"Asunto: [Test] {subject_of(tok)}\n\n" + probe_body(tok))

    tok = T["fwditalian222222"]
    write("unrelated-forward-italian-i.eml",
          "From: Luca <luca@example.org>\n"
          f"To: {LIST}\n"
          f"Subject: I: [Test] {subject_of(tok)}\n"
          "Date: Tue, 14 Nov 2023 23:00:00 +0000\n"
          "Message-ID: <0a1b2c3d-luca@example.org>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=utf-8\n"
          "Content-Transfer-Encoding: 8bit\n"
          + LIST_FIELDS + "\n"
          "Chi manda questi messaggi?\n\n" + probe_body(tok))

    tok = T["fwdnetscape22222"]
    write("unrelated-forward-netscape-attached.eml",
          "From: Nina <nina@example.org>\n"
          "To: reader@example.org\n"
          f"Subject: [Fwd: [Test] {subject_of(tok)}]\n"
          "Date: Tue, 14 Nov 2023 23:00:00 +0000\n"
          "Message-ID: <3F2A1B0C.5060708@example.org>\n"
          "MIME-Version: 1.0\n"
          'Content-Type: multipart/mixed; boundary="------------020304050607"\n\n'
          "--------------020304050607\n"
          "Content-Type: text/plain; charset=us-ascii\n\n"
          "See the attached.\n\n"
          "--------------020304050607\n"
          "Content-Type: message/rfc822\n\n"
          + probe(tok)
          + "--------------020304050607--\n")

    tok = T["fwdpinesuffix222"]
    write("unrelated-forward-pine-fwd-suffix.eml",
          "From: Paul <paul@example.org>\n"
          "To: reader@example.org\n"
          f"Subject: [Test] {subject_of(tok)} (fwd)\n"
          "Date: Tue, 14 Nov 2023 23:00:00 +0000\n"
          "Message-ID: <Pine.LNX.4.64.2311142300.1234@example.org>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: TEXT/PLAIN; charset=US-ASCII\n\n"
          "---------- Forwarded message ----------\n"
          f"Subject: [Test] {subject_of(tok)}\n\n" + probe_body(tok))

    tok = T["replyquotesbody2"]
    write("unrelated-reply-quoting-probe-in-body.eml",
          "From: Bob <bob@example.org>\n"
          f"To: {LIST}\n"
          "Subject: Re: strange test messages on the list\n"
          "Date: Tue, 14 Nov 2023 23:20:00 +0000\n"
          "Message-ID: <0c1d2e3f-quote@example.org>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=us-ascii\n"
          + LIST_FIELDS + "\n"
          "I keep getting these:\n\n"
          f"> Subject: [Test] {subject_of(tok)}\n"
          f"> Message-ID: <{tok}@example.org>\n"
          f"> Token:    {tok}\n")

    tok = T["attachedbyperson"]
    write("unrelated-probe-attached-by-person.eml",
          "From: Carol <carol@example.org>\n"
          "To: reader@example.org\n"
          "Subject: is this spam?\n"
          "Date: Tue, 14 Nov 2023 23:30:00 +0000\n"
          "Message-ID: <1b2c3d4e-carol@example.org>\n"
          "MIME-Version: 1.0\n"
          'Content-Type: multipart/mixed; boundary="b1"\n\n'
          "--b1\n"
          "Content-Type: text/plain; charset=us-ascii\n\n"
          "Attached, as you asked.\n\n"
          "--b1\n"
          "Content-Type: message/rfc822\n"
          'Content-Disposition: attachment; filename="probe.eml"\n\n'
          + probe(tok)
          + "--b1--\n")

    # Mailman 3's MIME digest (runners/digest.py): from -request, a table
    # of contents, then the posts as message/rfc822 in a multipart/digest.
    tok = T["mimedigestprobe2"]
    write("unrelated-mailman3-mime-digest.eml",
          'Content-Type: multipart/mixed; boundary="===============7777=="\n'
          "MIME-Version: 1.0\n"
          "From: test-request@lists.example.org\n"
          "Subject: Test Digest, Vol 3, Issue 7\n"
          f"To: {LIST}\n"
          f"Reply-To: {LIST}\n"
          "Date: Tue, 14 Nov 2023 23:59:00 +0000\n"
          "Message-ID: <170000000999.1.1@lists.example.org>\n"
          "X-Message-ID-Hash: ABCDEFGHIJKLMNOPQRSTUVWXYZ234567\n"
          + LIST_FIELDS + "\n"
          "--===============7777==\n"
          'Content-Type: text/plain; charset="us-ascii"\n'
          'Content-Description: Test Digest, Vol 3, Issue 7\n\n'
          "Send Test mailing list submissions to\n\ttest@lists.example.org\n\n"
          "Today's Topics:\n\n"
          f"   1. [Test] {subject_of(tok)} (probe@example.org)\n"
          "   2. Why was my post rejected? (Dave)\n\n"
          "--===============7777==\n"
          'Content-Type: multipart/digest; boundary="===============8888=="\n\n'
          "--===============8888==\n"
          "Content-Type: message/rfc822\n\n"
          + probe(tok)
          + "--===============8888==\n"
          "Content-Type: message/rfc822\n\n"
          "From: Dave <dave@example.org>\n"
          f"To: {LIST}\n"
          "Subject: [Test] Why was my post rejected?\n"
          "Message-ID: <dave-1@example.org>\n\n"
          "It was rejected for the following reasons: none.\n"
          "--===============8888==--\n"
          "--===============7777==--\n")

    # RFC 1153 plain digest (Mailman 2.1 and 3 "plaintext" digests).
    tok = T["plaindigestprob2"]
    write("unrelated-mailman2-plain-digest.eml",
          "From: test-request@lists.example.org\n"
          "Subject: Test Digest, Vol 3, Issue 8\n"
          f"To: {LIST}\n"
          f"Reply-To: {LIST}\n"
          "Date: Tue, 14 Nov 2023 23:59:00 +0000\n"
          "Message-ID: <mailman.99.1700006340.1234.test@lists.example.org>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=\"us-ascii\"\n"
          "Content-Transfer-Encoding: 7bit\n"
          "Precedence: list\n"
          "X-BeenThere: test@lists.example.org\n"
          "X-Mailman-Version: 2.1.39\n"
          f"List-Id: Test list <{LISTID}>\n\n"
          "Send Test mailing list submissions to\n\ttest@lists.example.org\n\n"
          "Today's Topics:\n\n"
          f"   1. {subject_of(tok)} (probe@example.org)\n"
          "   2. Re: rejected again (Erin)\n\n\n"
          "----------------------------------------------------------------------\n\n"
          "Message: 1\n"
          "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
          "From: probe@example.org\n"
          f"To: {LIST}\n"
          f"Subject: [Test] {subject_of(tok)}\n"
          f"Message-ID: <{tok}@example.org>\n\n"
          + probe_body(tok) + "\n"
          "------------------------------\n\n"
          "End of Test Digest, Vol 3, Issue 8\n"
          "**********************************\n")

    tok = T["anonreplytoprobe"]
    write("unrelated-anonymous-list-reply-to-probe.eml",
          RECEIVED_COPY
          + "From: Test <test@lists.example.org>\n"
          f"To: {LIST}\n"
          f"Subject: Antw: [Test] {subject_of(tok)}\n"
          "Date: Tue, 14 Nov 2023 23:20:00 +0000\n"
          "Message-ID: <170000000214.4713.1111111111111111111@lists.example.org>\n"
          "MIME-Version: 1.0\n"
          "Content-Type: text/plain; charset=us-ascii\n"
          + LIST_FIELDS + "\n"
          "Wer schickt diese Nachrichten?\n")

    # A hold notice of list "other" that names a probe of list "test": it
    # proves nothing about the probe of "test".
    tok = T["otherlistsprobe2"]
    write("hold_notice-mailman3-other-lists-probe.eml",
          "MIME-Version: 1.0\n"
          'Content-Type: text/plain; charset="us-ascii"\n'
          "Content-Transfer-Encoding: 7bit\n"
          "Subject: Your message to other@lists.example.org awaits moderator approval\n"
          "From: other-bounces@lists.example.org\n"
          f"To: {PROBE}\n"
          "Message-ID: <170000000531.1423.1@lists.example.org>\n"
          f"Date: {DATE}\n"
          "Precedence: bulk\n"
          "X-Mailman-Version: 3.3.8\n\n"
          "Your mail to 'other@lists.example.org' with the subject\n\n"
          f"    {subject_of(tok)}\n\n"
          "Is being held until the list moderator can review it for approval.\n\n"
          "The message is being held because:\n\n"
          "    The message comes from a moderated member\n\n"
          "Either the message will get posted to the list, or you will receive\n"
          "notification of the moderator's decision.\n")

    def dsn(name, pid, recipient_block, text_part, returned, text_ctype="text/plain; charset=utf-8"):
        return (
            "Return-Path: <>\n"
            f"Date: {DATE}\n"
            "From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n"
            "Subject: Undelivered Mail Returned to Sender\n"
            f"To: {PROBE}\n"
            "Auto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status;\n"
            f'\tboundary="{pid}/mail.example.org"\n'
            "Content-Transfer-Encoding: 8bit\n"
            f"Message-Id: <20231114221325.{pid}@mail.example.org>\n\n"
            "This is a MIME-encapsulated message.\n\n"
            f"--{pid}/mail.example.org\n"
            "Content-Description: Notification\n"
            f"Content-Type: {text_ctype}\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            + text_part + "\n"
            f"--{pid}/mail.example.org\n"
            "Content-Description: Delivery report\n"
            "Content-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mail.example.org\n"
            "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)\n\n"
            + recipient_block + "\n"
            f"--{pid}/mail.example.org\n"
            + returned
            + f"\n--{pid}/mail.example.org--\n"
        ).encode("utf-8")

    def returned_full(tok):
        return ("Content-Description: Undelivered Message\n"
                "Content-Type: message/rfc822\n"
                "Content-Transfer-Encoding: 8bit\n\n" + probe(tok))

    tok = T["bouncelostheader"]
    write_bytes("bounce-postfix-returned-header-lost-token.eml", dsn(
        "x", "4SVbLOST01",
        f"Final-Recipient: rfc822; {LIST}\n"
        f"Original-Recipient: rfc822;{LIST}\n"
        "Action: failed\nStatus: 5.7.1\n"
        "Diagnostic-Code: smtp; 550 5.7.1 Posting to this list is restricted\n",
        "This is the mail system at host mail.example.org.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n",
        # A gateway rewrote the subject and dropped the token field; the
        # Message-ID still is the probe's.
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n\n"
        f"From: {PROBE}\n"
        f"To: {LIST}\n"
        "Subject: [EXTERNAL] (subject removed)\n"
        f"Message-ID: <{tok}@example.org>\n"))

    tok = T["dsnsubscriber222"]
    write_bytes("unrelated-dsn-for-one-subscriber.eml", dsn(
        "x", "4SVbSUBS01",
        # The list is an alias: the subscriber's server failed, the list
        # did not.
        "Final-Recipient: rfc822; carol@example.net\n"
        f"Original-Recipient: rfc822;{LIST}\n"
        "Action: failed\nStatus: 5.2.2\n"
        "Diagnostic-Code: smtp; 552 5.2.2 carol@example.net: mailbox full\n",
        "This is the mail system at host mail.example.org.\n\n"
        "<carol@example.net> (expanded from <test@lists.example.org>): mailbox full\n",
        returned_full(tok)))

    tok = T["dsnlatindiagnost"]
    # The remote server's reply quoted byte for byte, in Latin-1.
    write_bytes("bounce-exim-latin1-diagnostic.eml", dsn(
        "x", "4SVbLATN01",
        f"Final-Recipient: rfc822;{LIST}\n"
        "Action: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 EmpfAEnger unbekannt, bitte spAEter\n"
        "  nicht erneut versuchen\n",
        "Diese Nachricht wurde automatisch erstellt.\n",
        returned_full(tok)).replace(b"AEnger", b"\xe4nger").replace(b"spAEter", b"sp\xe4ter"))

    tok = T["dsnisojapanese22"]
    jp = "配送できませんでした: 宛先のメーリングリストは存在しません".encode("iso-2022-jp")
    write_bytes("bounce-iso-2022-jp-notification.eml", dsn(
        "x", "4SVbJPJP01",
        f"Final-Recipient: rfc822; {LIST}\n"
        "Action: failed\nStatus: 5.1.1\n",
        "JPTEXT\n",
        returned_full(tok), text_ctype="text/plain; charset=iso-2022-jp").replace(b"JPTEXT", jp))


if __name__ == "__main__":
    main()
