// Package compose implements the probe post: the RFC 5322 message listprobe
// submits to a list, carrying its signed token in the Subject, the
// Message-ID and the X-Listprobe-Token header, optionally DKIM-signed.
package compose

import (
	"bytes"
	"crypto"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/listprobe/listprobe/checks/idn"
	"github.com/listprobe/listprobe/checks/token"
)

// SubjectPrefix starts the subject of every probe post. It is neither empty
// nor a Mailman administrivia word, so it is not held as a command.
const SubjectPrefix = "listprobe delivery test"

// Probe is one probe post, before it is rendered.
type Probe struct {
	From  string    // the posting member's address
	List  string    // the list's posting address, the only To:
	Token string    // the encoded, signed token (Signer.Encode)
	Date  time.Time // the Date: header
	// Domain is the right-hand side of the Message-ID. Default: the domain
	// of From.
	Domain string
}

// DKIMOptions makes Message sign the message with DKIM.
type DKIMOptions struct {
	Domain   string
	Selector string
	Key      crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// MessageID returns the Message-ID of the probe, angle brackets included.
// The token is its local part, so a bounce that quotes only the Message-ID
// still names the probe.
func (p *Probe) MessageID() string {
	domain := p.Domain
	if domain == "" {
		if i := strings.LastIndexByte(p.From, '@'); i >= 0 {
			domain = p.From[i+1:]
		}
	}
	if domain == "" {
		domain = "listprobe.invalid"
	}
	// id-right in ASCII: a Message-ID must pass every server.
	return "<" + p.Token + "@" + idn.ASCIIDomain(domain) + ">"
}

// Subject returns the probe's subject, which carries the token because hold
// notices quote only the subject of the held post.
func (p *Probe) Subject() string {
	return SubjectPrefix + " " + p.Token
}

// Message renders the probe as an RFC 5322 message with CRLF line endings,
// signed with DKIM when dkimOpts is not nil.
//
// The message deliberately carries no Precedence, Auto-Submitted, X-No-Ack,
// X-Ack or List-* header: with any of those Mailman sends the poster no hold
// notice, and a hold notice is how listprobe learns that the post was held.
func Message(p Probe, dkimOpts *DKIMOptions) ([]byte, error) {
	if _, err := mail.ParseAddress(p.From); err != nil {
		return nil, fmt.Errorf("probe From %q: %w", p.From, err)
	}
	if _, err := mail.ParseAddress(p.List); err != nil {
		return nil, fmt.Errorf("probe list address %q: %w", p.List, err)
	}
	if p.Token == "" {
		return nil, fmt.Errorf("probe token is empty")
	}
	// Domains in their ASCII form, valid with SMTPUTF8 and without; a
	// local part that is not ASCII stays UTF-8 (RFC 6532), and Submit
	// sends such a message only to a server that offers SMTPUTF8.
	from, err := idn.ASCIIAddress(p.From)
	if err != nil {
		return nil, fmt.Errorf("probe From: %w", err)
	}
	list, err := idn.ASCIIAddress(p.List)
	if err != nil {
		return nil, fmt.Errorf("probe list address: %w", err)
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from)
	h("To", list)
	h("Subject", p.Subject())
	h("Date", p.Date.Format(time.RFC1123Z))
	h("Message-ID", p.MessageID())
	h(token.Header, p.Token)
	h("MIME-Version", "1.0")
	if idn.IsASCII(list) {
		h("Content-Type", "text/plain; charset=us-ascii")
		h("Content-Transfer-Encoding", "7bit")
	} else {
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "8bit")
	}
	b.WriteString("\r\n")
	body := fmt.Sprintf(`This is an automated delivery test sent by listprobe, a monitor that
checks that this mailing list delivers posts from its members.

List:     %s
Sent at:  %s
Token:    %s

If you are a moderator and this message is waiting for approval, it is
safe to discard it. The poster is a monitoring account; it does not read
replies.
`, list, p.Date.UTC().Format(time.RFC3339), p.Token)
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))

	if dkimOpts == nil {
		return b.Bytes(), nil
	}
	var signed bytes.Buffer
	err = dkim.Sign(&signed, bytes.NewReader(b.Bytes()), &dkim.SignOptions{
		Domain:                 dkimOpts.Domain,
		Selector:               dkimOpts.Selector,
		Signer:                 dkimOpts.Key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		// Mailman rewrites Subject (prefix) and adds a footer, so the list's
		// copy will not verify; the post to the list server does.
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", token.Header, "MIME-Version", "Content-Type"},
	})
	if err != nil {
		return nil, fmt.Errorf("dkim sign for %s: %w", dkimOpts.Domain, err)
	}
	return signed.Bytes(), nil
}
