package checks

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// ErrTooMuchData is the error of a session whose server sent more in answer
// to one command than that command can need (see MailboxOptions's bounds):
// listprobe closed the connection instead of reading on.
var ErrTooMuchData = errors.New("server sent more than one command can need")

// ErrNoAnswer is the error of a session whose server did not finish
// answering a command within the command's deadline: listprobe closed the
// connection, and the mailbox counts as down until a new session has
// fetched again.
var ErrNoAnswer = errors.New("server stopped answering")

// mailboxRoundSlack is what one command round may read on top of the
// message data it asked for: untagged updates (EXISTS, EXPUNGE, FLAGS of
// other clients' changes), capabilities, UIDs. 4 MiB is some 200,000
// "* n FETCH (UID m)" responses, or a flag change on as many messages.
const mailboxRoundSlack = 4 << 20

// roundBudget returns how many bytes one command round may read: the slack
// and a whole batch of messages at the header and body limits (the two
// header sections and the body, each one byte over its limit).
func roundBudget(headerLimit, bodyLimit int64) int64 {
	perMessage := 2*(headerLimit+1) + bodyLimit + 1 + 1<<10
	return mailboxRoundSlack + mailboxFetchBatch*perMessage
}

// budgetConn is the session's connection with a bound on what one command
// round reads from it. Everything imapclient keeps (literals, quoted
// strings, atoms, flag lists, ENVELOPE and BODYSTRUCTURE, SEARCH results,
// the UIDs a FETCH saw) is read from it first, so bounding the bytes of a
// round bounds what a server can make the session hold, whatever it sends;
// imapclient itself bounds list nesting (1000 levels). When a round's
// budget runs out the connection is closed and the round fails with
// ErrTooMuchData.
type budgetConn struct {
	net.Conn

	mu       sync.Mutex
	left     int64 // bytes the current round may still read
	exceeded bool
}

// reset gives a new round its budget.
func (c *budgetConn) reset(n int64) {
	c.mu.Lock()
	c.left = n
	c.mu.Unlock()
}

// overBudget reports whether the connection was closed for reading too
// much.
func (c *budgetConn) overBudget() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exceeded
}

func (c *budgetConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.exceeded {
		c.mu.Unlock()
		return 0, ErrTooMuchData
	}
	if int64(len(p)) > c.left+1 {
		// Never read more than one byte past the budget: that byte says
		// the server went over it.
		p = p[:c.left+1]
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.left -= int64(n)
	over := c.left < 0
	c.exceeded = c.exceeded || over
	c.mu.Unlock()
	if over {
		c.Conn.Close()
		return 0, ErrTooMuchData
	}
	return n, err
}

// fetched is what the session keeps of one FETCH response: its UID,
// INTERNALDATE and the body sections it asked for, each cut one byte past
// its limit, and when the response began to arrive.
type fetched struct {
	uid      imap.UID
	internal time.Time
	sections [][]byte // in the order of the sections asked for; nil if absent
	at       time.Time
}

// boundedSection is a body section a FETCH asks for, with how many bytes of
// it are kept (one past the limit tells a section of exactly the limit from
// a longer one).
type boundedSection struct {
	section *imap.FetchItemBodySection
	keep    int64
}

// fetchEach reads cmd's responses one message at a time, without Collect:
// of every response it keeps only the UID, the INTERNALDATE and the
// sections asked for, each up to its keep bytes, whatever the server sends
// (a literal of a gigabyte costs keep bytes and the connection's budget,
// which closes it). f is called with each response, in order; it always
// consumes the whole command.
func fetchEach(cmd *imapclient.FetchCommand, sections []boundedSection, f func(fetched)) error {
	defer cmd.Close()
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		got := fetched{at: time.Now(), sections: make([][]byte, len(sections))}
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				got.uid = item.UID
			case imapclient.FetchItemDataInternalDate:
				got.internal = item.Time
			case imapclient.FetchItemDataBodySection:
				if err := readSection(item, sections, got.sections); err != nil {
					return err
				}
			}
			// Anything else (FLAGS, ENVELOPE, BODYSTRUCTURE a server sent
			// unasked) is parsed within the budget and dropped.
		}
		f(got)
	}
	return cmd.Close()
}

// readSection keeps the bytes of a body section that matches one asked for.
func readSection(item imapclient.FetchItemDataBodySection, sections []boundedSection, into [][]byte) error {
	if item.Literal == nil {
		return nil
	}
	i := -1
	for j, s := range sections {
		if into[j] == nil && sameSection(s.section, item.Section) {
			i = j
			break
		}
	}
	if i < 0 && len(sections) == 1 && into[0] == nil {
		// A server that names the section differently from the request
		// (some drop the partial's origin): the only section asked for.
		i = 0
	}
	if i < 0 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(item.Literal, sections[i].keep))
	if err != nil {
		return fmt.Errorf("body section: %w", err)
	}
	into[i] = b
	return nil
}

// sameSection reports whether a response's body section is the one asked
// for. The partial's origin is not compared: every section asked for starts
// at 0, and some servers leave the origin out.
func sameSection(asked, got *imap.FetchItemBodySection) bool {
	if got == nil || asked.Specifier != got.Specifier || !slices.Equal(asked.Part, got.Part) ||
		len(asked.HeaderFields) != len(got.HeaderFields) || len(asked.HeaderFieldsNot) != len(got.HeaderFieldsNot) {
		return false
	}
	for i, f := range asked.HeaderFields {
		if !strings.EqualFold(f, got.HeaderFields[i]) {
			return false
		}
	}
	for i, f := range asked.HeaderFieldsNot {
		if !strings.EqualFold(f, got.HeaderFieldsNot[i]) {
			return false
		}
	}
	return true
}
