// Package checks implements the mail side of listprobe: the signed probe
// message, SMTP submission, IMAP mailbox watching, the parsers that turn
// notices and bounces into evidence, and the Mailman 3 REST client.
//
// Nothing here schedules probes, keeps metrics or serves HTTP; package probe
// does that on top of these pieces.
//
// # Safety
//
// Mailbox never sets \Seen (it fetches with BODY.PEEK) and deletes only the
// UIDs its caller names, with UID EXPUNGE so that messages other clients
// flagged \Deleted are left alone. Callers name only messages whose probe
// token they verified with a Signer.
package checks
