package imapwatch

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// bulkyHeaderFields are the watched header fields a message may carry many
// of, or long ones (a Received field per hop, a long thread's References,
// a crowd in To and Cc). They are fetched in a section of their own, with a
// bound of their own, so that however many of them a message has they
// never push the fields that identify it (Message-ID, From, Subject, the
// token) out of the bound: a bound must never turn a delivered copy into a
// lost one.
var bulkyHeaderFields = []string{"Received", "To", "Cc", "References"}

// headerSections returns the header sections fetched for every new
// message: the identifying fields (those of fields that are not bulky, or,
// when fields is nil, the whole header but the bulky fields), then the
// bulky ones, when there are any to fetch.
func headerSections(fields []string, limit int64) []boundedSection {
	section := func(fields, not []string) boundedSection {
		return boundedSection{keep: limit + 1, section: &imap.FetchItemBodySection{
			Specifier:       imap.PartSpecifierHeader,
			HeaderFields:    fields,
			HeaderFieldsNot: not,
			Peek:            true, // never set \Seen
			// One byte more than the limit tells a header of exactly
			// the limit from a longer one.
			Partial: &imap.SectionPartial{Offset: 0, Size: limit + 1},
		}}
	}
	if fields == nil {
		return []boundedSection{section(nil, bulkyHeaderFields), section(bulkyHeaderFields, nil)}
	}
	var identity, bulky []string
	for _, f := range fields {
		if slices.ContainsFunc(bulkyHeaderFields, func(b string) bool { return strings.EqualFold(b, f) }) {
			bulky = append(bulky, f)
		} else {
			identity = append(identity, f)
		}
	}
	if len(bulky) == 0 {
		return []boundedSection{section(identity, nil)}
	}
	return []boundedSection{section(identity, nil), section(bulky, nil)}
}

// wholeHeaderSection returns the section of the whole header, fetched
// with the body.
func wholeHeaderSection(limit int64) boundedSection {
	return boundedSection{keep: limit + 1, section: &imap.FetchItemBodySection{
		Specifier: imap.PartSpecifierHeader,
		Peek:      true,
		Partial:   &imap.SectionPartial{Offset: 0, Size: limit + 1},
	}}
}

// bodySection returns the section fetched for a message whose body is
// wanted.
func bodySection(limit int64) boundedSection {
	return boundedSection{keep: limit + 1, section: &imap.FetchItemBodySection{
		Specifier: imap.PartSpecifierText,
		Peek:      true,
		Partial:   &imap.SectionPartial{Offset: 0, Size: limit + 1},
	}}
}

// newUID is a UID to report, with what the session knows of it before
// fetching its header: when it learnt of it, and the message's INTERNALDATE
// when it was read (UnixNano; 0 when unknown). A small value: a mailbox's
// worth of them is kept while a round's UIDs are read.
type newUID struct {
	uid           imap.UID
	seen, arrived int64
}

func unixNano(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(0, t)
}

// sortUIDs sorts by UID and keeps the first of each.
func sortUIDs(l []newUID) []newUID {
	slices.SortStableFunc(l, func(a, b newUID) int { return cmp.Compare(a.uid, b.uid) })
	return slices.CompactFunc(l, func(a, b newUID) bool { return a.uid == b.uid })
}

// highestUID returns the UID of the last message, 0 for an empty mailbox.
func (m *Mailbox) highestUID(s *imapConn, numMessages uint32) (imap.UID, error) {
	if numMessages == 0 {
		return 0, nil
	}
	var uid imap.UID
	err := s.do(func() error {
		return fetchEach(s.c.Fetch(imap.SeqSetNum(numMessages), &imap.FetchOptions{UID: true}), nil,
			func(f fetched) { uid = max(uid, f.uid) })
	})
	if err != nil {
		return 0, fmt.Errorf("fetch last UID: %w", err)
	}
	return uid, nil
}

// uidsArrivedSince returns the UIDs below uidNext of the messages whose
// INTERNALDATE is not before since, with their INTERNALDATE, in order.
func (m *Mailbox) uidsArrivedSince(s *imapConn, since time.Time, uidNext imap.UID) ([]newUID, error) {
	var found []newUID
	err := s.do(func() error {
		// SEARCH SINCE compares dates in the server's time zone: ask for a
		// day more and filter on the exact INTERNALDATE.
		data, err := s.c.UIDSearch(&imap.SearchCriteria{Since: since.Add(-24 * time.Hour)}, nil).Wait()
		if err != nil {
			return fmt.Errorf("uid search since: %w", err)
		}
		// Never AllUIDs: an ESEARCH answer of "ALL 1:4294967295" is a
		// few bytes that would expand to four billion UIDs. The set goes
		// back to the server as it came, cut below uidNext.
		all, _ := data.All.(imap.UIDSet)
		candidates := uidsBelow(all, uidNext)
		if len(candidates) == 0 {
			return nil
		}
		err = fetchEach(s.c.Fetch(candidates, &imap.FetchOptions{UID: true, InternalDate: true}), nil, func(f fetched) {
			if f.uid != 0 && candidates.Contains(f.uid) && !f.internal.IsZero() && !f.internal.Before(since) {
				found = append(found, newUID{uid: f.uid, arrived: f.internal.UnixNano()})
			}
		})
		if err != nil {
			return fmt.Errorf("fetch internaldate: %w", err)
		}
		return nil
	})
	return sortUIDs(found), err
}

// uidsBelow returns the part of set below uidNext.
func uidsBelow(set imap.UIDSet, uidNext imap.UID) imap.UIDSet {
	var out imap.UIDSet
	for _, r := range set {
		start, stop := r.Start, r.Stop
		if stop == 0 || stop >= uidNext { // "*" is the highest UID
			stop = uidNext - 1
		}
		if start == 0 || start > stop {
			continue
		}
		out.AddRange(start, stop)
	}
	return out
}

// fetchNew reports the messages from m.next on.
func (m *Mailbox) fetchNew(s *imapConn) error {
	s.drain()
	var found []newUID
	err := s.do(func() error {
		// "n:*" also matches the last message when every UID is below n:
		// keep only the UIDs really at or above n. The responses are
		// read one by one so that each message's SeenAt is when its UID
		// came, not when the last one did. How many there can be is
		// bounded by the round's budget.
		return fetchEach(s.c.Fetch(imap.UIDSet{{Start: m.next, Stop: 0}}, &imap.FetchOptions{UID: true}), nil, func(f fetched) {
			if f.uid >= m.next {
				found = append(found, newUID{uid: f.uid, seen: f.at.UnixNano()})
			}
		})
	})
	if err != nil {
		return fmt.Errorf("uid fetch %d:*: %w", m.next, err)
	}
	s.lastAsked = time.Now()
	found = sortUIDs(found)
	if len(found) > 0 {
		m.log.Debug("imap new messages", "from_uid", m.next, "count", len(found))
	}
	err = m.deliver(s, found, false, func(uid imap.UID) { m.next = max(m.next, uid+1) })
	if err != nil {
		return err
	}
	if n := len(found); n > 0 {
		// Also past the messages expunged between the two fetches.
		m.next = max(m.next, found[n-1].uid+1)
	}
	m.lastGood = time.Now()
	return nil
}

// deliver fetches the watched header fields (and the body when WantBody
// says so) of uids, in order, and hands each message to the subscribers.
// A UID whose seen time is unknown is seen when its header fields arrive. With skipRecent,
// messages whose Message-ID was reported recently are not reported again.
// delivered is called after each message.
//
// Each batch's responses are read one message at a time, every part is a
// partial fetch, and no more than the limits is kept of what comes:
// what one batch holds is bounded, whatever the messages hold and whatever
// the server sends.
func (m *Mailbox) deliver(s *imapConn, uids []newUID, skipRecent bool, delivered func(imap.UID)) error {
	m.pruneRecent()
	for batch := range slices.Chunk(uids, mailboxFetchBatch) {
		msgs, err := m.fetchBatch(s, batch)
		if err != nil {
			return err
		}
		m.report(batch, msgs, skipRecent, delivered)
	}
	return nil
}

// fetchBatch fetches the header sections of one batch, then, in a second
// command round, the bodies of the messages WantBody asks for.
func (m *Mailbox) fetchBatch(s *imapConn, batch []newUID) (map[imap.UID]*Message, error) {
	headers := headerSections(m.opts.HeaderFields, m.opts.HeaderLimit)
	body := bodySection(m.opts.BodyLimit)
	msgs := make(map[imap.UID]*Message, len(batch))
	var asked imap.UIDSet
	known := make(map[imap.UID]newUID, len(batch))
	for _, u := range batch {
		asked.AddNum(u.uid)
		known[u.uid] = u
	}
	var wantBody []imap.UID
	fetchHeaders := func() error {
		err := fetchEach(s.c.Fetch(asked, &imap.FetchOptions{UID: true, BodySection: sectionsOf(headers)}), headers, func(f fetched) {
			if f.uid == 0 || !asked.Contains(f.uid) || msgs[f.uid] != nil {
				return // a response to no question, or to one answered already
			}
			msg := m.messageOf(s, f, known[f.uid])
			msgs[f.uid] = msg
			if m.opts.WantBody != nil && m.opts.WantBody(msg.Header) {
				wantBody = append(wantBody, f.uid)
			}
		})
		return wrapErr("uid fetch header fields", err)
	}
	if err := s.doWithin(headerRoundBudget(m.opts.HeaderLimit), fetchHeaders); err != nil || len(wantBody) == 0 {
		return msgs, err
	}
	// With the body comes the whole header as it stands, in its order:
	// what a DKIM signature, an ARC set, the receiving server's
	// Authentication-Results and Received hop are checked on.
	whole := wholeHeaderSection(m.opts.HeaderLimit)
	bodyAndHeader := []boundedSection{body, whole}
	fetchBodies := func() error {
		err := fetchEach(s.c.Fetch(imap.UIDSetNum(wantBody...), &imap.FetchOptions{UID: true, BodySection: sectionsOf(bodyAndHeader)}), bodyAndHeader, func(f fetched) {
			msg := msgs[f.uid]
			if msg == nil || msg.Body != nil || !slices.Contains(wantBody, f.uid) {
				return
			}
			b := f.sections[0]
			if b == nil {
				b = []byte{}
			}
			if int64(len(b)) > m.opts.BodyLimit {
				b, msg.Truncated = b[:m.opts.BodyLimit], true
			}
			msg.Body = b
			if len(f.sections) > 1 && f.sections[1] != nil {
				msg.RawHeader, msg.RawHeaderTruncated = cutHeader(f.sections[1], m.opts.HeaderLimit)
			}
		})
		return wrapErr("uid fetch body", err)
	}
	return msgs, s.doWithin(bodyRoundBudget(m.opts.BodyLimit), fetchBodies)
}

// messageOf makes the Message of one header fetch.
func (m *Mailbox) messageOf(s *imapConn, f fetched, u newUID) *Message {
	at := f.at
	if u.seen != 0 {
		at = unixNano(u.seen)
	}
	var (
		raw       [][]byte
		truncated bool
	)
	for _, sec := range f.sections {
		r, cut := cutHeader(sec, m.opts.HeaderLimit)
		raw, truncated = append(raw, r), truncated || cut
	}
	h, err := parseWatchedHeader(raw...)
	if err != nil {
		m.log.Debug("imap message with a malformed header", "uid", f.uid, "err", err)
	}
	if truncated {
		m.log.Debug("imap message with watched header fields over the limit", "uid", f.uid, "limit", m.opts.HeaderLimit)
	}
	return &Message{UID: uint32(f.uid), UIDValidity: s.uidValidity, Header: h, HeaderTruncated: truncated, SeenAt: at, Arrived: unixNano(u.arrived)}
}

func sectionsOf(bs []boundedSection) []*imap.FetchItemBodySection {
	out := make([]*imap.FetchItemBodySection, len(bs))
	for i, b := range bs {
		out[i] = b.section
	}
	return out
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// report hands the fetched messages of batch to the subscribers in UID
// order, skipping those expunged meanwhile and, with skipRecent, those
// whose Message-ID was reported recently.
func (m *Mailbox) report(batch []newUID, msgs map[imap.UID]*Message, skipRecent bool, delivered func(imap.UID)) {
	now := time.Now()
	for _, u := range batch {
		uid := u.uid
		msg := msgs[uid]
		if msg == nil {
			continue // expunged in the meantime
		}
		id := msg.Header.Get("Message-Id")
		if skipRecent && id != "" {
			if _, ok := m.recent[id]; ok {
				continue
			}
		}
		if id != "" {
			m.recent[id] = now
		}
		m.publish(*msg)
		if delivered != nil {
			delivered(uid)
		}
	}
}

func isMessageIDField(f string) bool { return strings.EqualFold(f, "Message-ID") }

// pruneRecent forgets the Message-IDs reported before the recent window.
func (m *Mailbox) pruneRecent() {
	cutoff := time.Now().Add(-mailboxRecentWindow)
	for id, t := range m.recent {
		if t.Before(cutoff) {
			delete(m.recent, id)
		}
	}
}

// cutHeader bounds raw header fields to limit bytes. A longer header is cut
// at the start of the last field that begins within the limit, so that
// every field kept is whole (a field's continuation lines begin with a space
// or a tab), and ends with the empty line that ends a header. truncated
// says it was cut.
func cutHeader(raw []byte, limit int64) (_ []byte, truncated bool) {
	if int64(len(raw)) <= limit {
		return raw, false
	}
	raw = raw[:limit+1] // the byte after the limit says whether a line starts there
	end := 0
	for i := 0; i < len(raw)-1; i++ {
		if raw[i] == '\n' && raw[i+1] != ' ' && raw[i+1] != '\t' {
			end = i + 1
		}
	}
	cut := make([]byte, end, end+2)
	copy(cut, raw[:end])
	return append(cut, '\r', '\n'), true
}

// parseWatchedHeader parses the header fields returned for
// BODY.PEEK[HEADER.FIELDS (...)] sections into one header, the fields of
// each section in their order. A malformed field ends the parse of its
// section; the fields before it are kept.
func parseWatchedHeader(sections ...[]byte) (mail.Header, error) {
	var (
		all      bytes.Buffer
		firstErr error
	)
	for _, raw := range sections {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		var b bytes.Buffer
		if err := textproto.WriteHeader(&b, h); err == nil {
			all.Write(bytes.TrimSuffix(b.Bytes(), []byte("\r\n"))) // the empty line that ends it
		}
	}
	all.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&all))
	if err != nil && firstErr == nil {
		firstErr = err
	}
	return mail.Header{Header: message.Header{Header: h}}, firstErr
}

// waitUp waits until a session is up, for at most the command timeout and
// only while Run runs; it reports whether one is.
func (m *Mailbox) waitUp(ctx context.Context) bool {
	if m.Up() || !m.running.Load() {
		return m.Up()
	}
	deadline := time.NewTimer(m.cmdTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !m.Up() && m.running.Load() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return m.Up()
}

// hand gives req to the session goroutine. It gives up when ctx ends or Run
// has ended (a Mailbox stopped by a reload while a message of it was being
// handled): nobody would take the request.
func (m *Mailbox) hand(ctx context.Context, req *mailboxDeleteRequest) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case m.reqs <- req:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if !m.running.Load() {
				return errors.New("mailbox session stopped")
			}
		}
	}
}
