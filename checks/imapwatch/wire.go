package imapwatch

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

// Bounds of what one command round may read from the server. A round that
// fetches no message data (LOGIN, SELECT, SEARCH, NOOP, IDLE, the UIDs of
// new mail) may read mailboxRoundSlack: untagged updates (EXISTS, EXPUNGE,
// FLAGS of other clients' changes), capabilities, UIDs; 4 MiB is some
// 200,000 "* n FETCH (UID m)" responses, or a flag change on as many
// messages. A round that fetches a batch's header sections or bodies may
// read the batch at its limits and mailboxFetchSlack around it. What a
// server can make imapclient hold is a small multiple of what it reads
// (a flag or a UID costs a string or a range and its share of a growing
// slice): the rounds' budgets bound the heap a session can take, at most
// 64 MiB with the default limits (TestMailboxHostileServerCannotExhaustMemory).
const (
	mailboxRoundSlack = 4 << 20
	mailboxFetchSlack = 1 << 20
	// mailboxPerMessageSlack is what a FETCH response adds to the data it
	// carries.
	mailboxPerMessageSlack = 1 << 10
)

// headerRoundBudget and bodyRoundBudget return how many bytes a round that
// fetches one batch's header sections, or bodies, may read.
func headerRoundBudget(headerLimit int64) int64 {
	return mailboxFetchSlack + mailboxFetchBatch*(2*(headerLimit+1)+mailboxPerMessageSlack)
}

func bodyRoundBudget(bodyLimit int64) int64 {
	return mailboxFetchSlack + mailboxFetchBatch*(bodyLimit+1+mailboxPerMessageSlack)
}

// mailboxMaxNesting bounds how deep a server's response may nest
// parentheses. imapclient parses BODYSTRUCTURE by recursion without a
// bound of its own: a response of a few megabytes of "(" would overflow
// the goroutine's stack, which kills the process. Real structures nest a
// few levels per MIME level (an attached message's envelope and body): 256
// leaves room for messages nested far deeper than servers allow.
const mailboxMaxNesting = 256

// budgetConn is the session's connection with a bound on what one command
// round reads from it. Everything imapclient keeps (literals, quoted
// strings, atoms, flag lists, ENVELOPE and BODYSTRUCTURE, SEARCH results,
// the UIDs a FETCH saw) is read from it first, so bounding the bytes of a
// round bounds what a server can make the session hold, whatever it sends.
// It also follows the responses' syntax far enough (quoted strings,
// literals, parentheses) to refuse nesting deeper than mailboxMaxNesting.
// When a round's budget runs out or a response nests too deep, the
// connection is closed and reads fail with an error wrapping
// ErrTooMuchData.
type budgetConn struct {
	net.Conn

	mu     sync.Mutex
	left   int64 // bytes the current round may still read
	failed error
	scan   responseScanner
}

// reset gives a new round its budget.
func (c *budgetConn) reset(n int64) {
	c.mu.Lock()
	c.left = n
	c.mu.Unlock()
}

// failure returns why the connection was closed, nil if it was not for
// reading too much.
func (c *budgetConn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}

func (c *budgetConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.failed != nil {
		c.mu.Unlock()
		return 0, c.failed
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
	switch {
	case c.left < 0:
		c.failed = ErrTooMuchData
	case !c.scan.scan(p[:n]):
		c.failed = fmt.Errorf("%w: a response nested more than %d parentheses deep", ErrTooMuchData, mailboxMaxNesting)
	}
	failed := c.failed
	c.mu.Unlock()
	if failed != nil {
		c.Conn.Close()
		return 0, failed
	}
	return n, err
}

// responseScanner follows server responses byte by byte, as imapclient's
// decoder reads them, as far as telling the parentheses of a response's
// data from text, quoted strings and literals: a continuation request and
// a status response (OK, NO, BAD, BYE, PREAUTH, tagged or not) are text to
// the end of the line; in any other response a quoted string runs to its
// closing quote, a literal ({n} and a line end) for n bytes, and
// parentheses nest.
type responseScanner struct {
	mode    scanMode
	head    []byte // the response's first bytes, up to its second space
	depth   int
	quoted  bool  // in a quoted string
	escaped bool  // after a backslash in a quoted string
	sizing  bool  // between "{" and "}"
	size    int64 // the literal's size so far
	sized   bool  // after "}", before the line end that starts the literal
	literal int64 // literal bytes still to come
}

type scanMode int

const (
	scanHead scanMode = iota // the start of a response: its tag and type
	scanText                 // text to the end of the line
	scanData                 // data: strings, literals, lists
)

// statusTypes are the responses whose rest is text (resp-text).
var statusTypes = []string{"OK", "NO", "BAD", "BYE", "PREAUTH"}

// scan follows b and reports false when the nesting is too deep.
func (sc *responseScanner) scan(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if sc.literal > 0 {
			skip := min(sc.literal, int64(len(b)-i))
			sc.literal -= skip
			i += int(skip) - 1
			continue
		}
		ch := b[i]
		switch sc.mode {
		case scanHead:
			sc.readHead(ch)
		case scanText:
			if ch == '\n' {
				sc.mode = scanHead
			}
		case scanData:
			if !sc.readData(ch) {
				return false
			}
		}
	}
	return true
}

// readHead reads a response's tag and type and decides how to read the
// rest.
func (sc *responseScanner) readHead(ch byte) {
	switch {
	case ch == '\n':
		sc.head = sc.head[:0]
		return
	case len(sc.head) == 0 && ch == '+':
		sc.mode = scanText
		return
	}
	sc.head = append(sc.head, ch)
	fields := strings.Fields(string(sc.head))
	switch {
	case ch == ' ' && len(fields) == 2:
		sc.mode = scanData
		if slices.ContainsFunc(statusTypes, func(t string) bool { return strings.EqualFold(t, fields[1]) }) {
			sc.mode = scanText
		}
	case len(sc.head) >= 64:
		sc.mode = scanData // no status response has a tag this long
	default:
		return
	}
	sc.head = sc.head[:0]
}

// readData reads a byte of a data response; false when the nesting is too
// deep.
func (sc *responseScanner) readData(ch byte) bool {
	switch {
	case sc.quoted:
		switch {
		case sc.escaped:
			sc.escaped = false
		case ch == '\\':
			sc.escaped = true
		case ch == '"':
			sc.quoted = false
		}
	case sc.sized:
		switch ch {
		case '\n':
			sc.sized, sc.literal = false, sc.size
		case '\r':
		default:
			sc.sized = false // not a literal: imapclient fails on it
		}
	case sc.sizing:
		switch {
		case ch >= '0' && ch <= '9' && sc.size < 1<<40:
			sc.size = sc.size*10 + int64(ch-'0')
		case ch == '}':
			sc.sizing, sc.sized = false, true
		default:
			sc.sizing = false
		}
	case ch == '"':
		sc.quoted = true
	case ch == '{':
		sc.sizing, sc.size = true, 0
	case ch == '(':
		sc.depth++
		return sc.depth <= mailboxMaxNesting
	case ch == ')':
		sc.depth = max(sc.depth-1, 0)
	case ch == '\n':
		sc.mode, sc.depth = scanHead, 0
	}
	return true
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
	for j, sec := range sections {
		// A server that names the section differently from the request
		// (the fields in another order, say): the first section of its
		// kind still to come. Header sections end up in one header
		// whichever they fill.
		if i < 0 && into[j] == nil && item.Section != nil && sec.section.Specifier == item.Section.Specifier {
			i = j
		}
	}
	if i < 0 && len(sections) == 1 && into[0] == nil {
		i = 0 // the only section asked for, however it is named
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
