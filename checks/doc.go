// Package checks implements the classification of incoming mail: what a
// message in a watched mailbox is (a list's copy of a probe, a hold notice,
// a moderator notice, a rejection, a bounce, or unrelated), which probes it
// names, and whether listprobe may delete it.
//
// Nothing here or below schedules probes, keeps metrics or serves HTTP;
// package probe does that on top of these pieces.
//
// # What lives where
//
// The mail side of listprobe is split by what each piece is; the packages
// below checks import none of checks, and checks imports only token,
// compose (the probe's subject), msgid, idn and servertext:
//
//   - checks/token: the signed probe token (Signer, Verify, Find, Parse) and
//     the header field that carries it.
//   - checks/compose: the probe post, rendered (and DKIM-signed) for
//     submission.
//   - checks/submit: SMTP submission of one message, with an error that
//     names the stage that failed.
//   - checks/imapwatch: the IMAP mailbox watcher (IDLE or poll, fetch the
//     header fields its caller names, delete named UIDs), and a read-only
//     search of an archive folder (archive.go).
//   - checks/mailmanrest: the Mailman 3 REST client (held queue, moderation
//     settings; queues, bounce-disabled members and digests in queues.go),
//     which internal/testbed's admin client reuses.
//   - checks/hyperkitty: HyperKitty's API, whether an archive holds a
//     message.
//   - checks/sympaarchive: Sympa's web archive (WWSympa's Message-ID
//     search, its "I am not a spammer" form answered once with its session
//     cookie), whether an archive holds a message.
//   - checks/authn: the authentication verdict of a message read (DKIM,
//     ARC, SPF and DMARC through go-msgauth and DNS): did the list's server
//     provably send it; explain prints it.
//   - checks/mailtls: the TLS modes and client configuration SMTP and IMAP
//     share.
//   - checks/msgid: Message-ID comparison.
//   - checks/idn: international addresses (IDNA domains, SMTPUTF8 or not).
//   - checks/servertext: the cleaning every text from a server gets before
//     it is stored (one line, no control characters, cut).
//
// In checks itself: evidence.go (Evidence, Classify, LooksLikeNotice),
// header.go (who sent a message), mime.go (walking its MIME parts),
// copy.go (a list's copy of a probe), bounce.go (DSNs, MDNs and plain
// bounces), hops.go (Received hops and approval), text.go (making server
// text readable), and one file per list manager (notice_mailman.go,
// notice_mlmmj.go, notice_sympa.go) named in the ordered list of
// managers.go. Supporting another list manager is one new notice_<name>.go,
// its captured fixtures under testdata/evidence and one line in that list.
//
// # Safety
//
// imapwatch never sets \Seen (it fetches with BODY.PEEK) and deletes only the
// UIDs its caller names, with UID EXPUNGE so that messages other clients
// flagged \Deleted are left alone. Callers name only messages whose probe
// token they verified with a token.Signer, and that Evidence.Deletable
// allows.
package checks
