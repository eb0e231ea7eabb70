package sandbox

import "sync/atomic"

// Stats counts what the world's servers have done since Start, for
// benchmarks that must show how many sessions a client opened and how many
// it held at once. Connections to the private IMAP listener that Messages
// reads from are not counted.
type Stats struct {
	SMTPSessions int64 // SMTP connections accepted
	SMTPOpen     int64 // SMTP connections open now
	SMTPPeakOpen int64 // the most SMTP connections open at once
	IMAPSessions int64 // IMAP connections accepted, across StopIMAP and StartIMAP
	IMAPOpen     int64 // IMAP connections open now
	IMAPPeakOpen int64 // the most IMAP connections open at once
	RESTRequests int64 // Mailman REST requests served, refused ones included
	ListPosts    int64 // posts the list simulator took in from SMTP
	Stored       int64 // messages stored into mailboxes: list copies, notices, direct mail, Append
}

// Stats returns the world's counters. It is safe to call at any time, from
// any goroutine, and does not wait for the servers.
func (w *World) Stats() Stats {
	return Stats{
		SMTPSessions: w.smtpConns.opened.Load(),
		SMTPOpen:     w.smtpConns.open.Load(),
		SMTPPeakOpen: w.smtpConns.peak.Load(),
		IMAPSessions: w.imapConns.opened.Load(),
		IMAPOpen:     w.imapConns.open.Load(),
		IMAPPeakOpen: w.imapConns.peak.Load(),
		RESTRequests: w.restRequests.Load(),
		ListPosts:    w.listPosts.Load(),
		Stored:       w.stored.Load(),
	}
}

// connCounter counts the connections of a listener: accepted, open now and
// the most open at once.
type connCounter struct {
	opened, open, peak atomic.Int64
}

func (c *connCounter) accepted() {
	c.opened.Add(1)
	n := c.open.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *connCounter) closed() { c.open.Add(-1) }
