// Package sandbox implements an in-process mail world on loopback for
// listprobe's demo, tests and benchmarks: an SMTP submission server
// (go-smtp), an IMAP server (go-imap's imapmemserver) and a list simulator
// that behaves like Mailman 3 where listprobe can tell: subject prefix,
// footer, List-* headers, and per-list policy.
package sandbox

import (
	"time"
)

// Policy is what a simulated list does with a member's post.
type Policy string

// The policies of a simulated list.
const (
	Deliver Policy = "deliver" // send a copy to every subscriber
	Hold    Policy = "hold"    // hold for moderation; send the poster a Mailman 3 hold notice
	Reject  Policy = "reject"  // refuse; send the poster a Mailman 3 rejection notice
	Drop    Policy = "drop"    // discard silently
	Delay   Policy = "delay"   // deliver after List.Delay
)

// List is one simulated mailing list.
type List struct {
	Address     string // posting address, e.g. "healthy@lists.example.org"
	Policy      Policy
	Delay       time.Duration // for Delay
	HoldReason  string        // for Hold; default "The message comes from a moderated member"
	Subscribers []string      // addresses that receive copies
}

// Account is one mailbox user: it can log in to SMTP and IMAP with its
// address and password.
type Account struct {
	Address  string
	Password string
}

// Options configures a World.
type Options struct {
	Accounts []Account
	Lists    []List
	// NoIdle makes the IMAP server refuse IDLE, so clients must poll.
	NoIdle bool
}

// World is a running mail world.
type World struct {
	SMTPAddr string // host:port of the SMTP submission server (no TLS, AUTH PLAIN)
	IMAPAddr string // host:port of the IMAP server (no TLS)
}

// Start starts a world on 127.0.0.1 with random ports.
func Start(opts Options) (*World, error) { panic("not implemented") }

// Close stops the servers.
func (w *World) Close() error { return nil }

// SetPolicy changes what list does with the next posts.
func (w *World) SetPolicy(list string, p Policy) {}

// Append puts a raw message into address's INBOX as if delivered.
func (w *World) Append(address string, raw []byte) error { return nil }

// Messages returns the raw messages in address's INBOX with their flags.
func (w *World) Messages(address string) ([]StoredMessage, error) { return nil, nil }

// StoredMessage is one message in a sandbox mailbox.
type StoredMessage struct {
	UID   uint32
	Flags []string
	Raw   []byte
}

// StopIMAP closes the IMAP listener and every open IMAP connection;
// StartIMAP listens again on the same address. Mail that arrives in
// between is kept.
func (w *World) StopIMAP() error  { return nil }
func (w *World) StartIMAP() error { return nil }
