package imapwatch

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// highestUID returns the UID of the last message, 0 for an empty mailbox.
func (m *Mailbox) highestUID(s *imapConn, numMessages uint32) (imap.UID, error) {
	if numMessages == 0 {
		return 0, nil
	}
	var uid imap.UID
	err := s.do(func() error {
		bufs, err := s.c.Fetch(imap.SeqSetNum(numMessages), &imap.FetchOptions{UID: true}).Collect()
		for _, b := range bufs {
			uid = max(uid, b.UID)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("fetch last UID: %w", err)
	}
	return uid, nil
}

// uidsArrivedSince returns the UIDs below uidNext of the messages whose
// INTERNALDATE is not before since.
func (m *Mailbox) uidsArrivedSince(s *imapConn, since time.Time, uidNext imap.UID) ([]imap.UID, error) {
	var uids []imap.UID
	err := s.do(func() error {
		// SEARCH SINCE compares dates in the server's time zone: ask for a
		// day more and filter on the exact INTERNALDATE.
		data, err := s.c.UIDSearch(&imap.SearchCriteria{Since: since.Add(-24 * time.Hour)}, nil).Wait()
		if err != nil {
			return fmt.Errorf("uid search since: %w", err)
		}
		candidates := data.AllUIDs()
		if len(candidates) == 0 {
			return nil
		}
		bufs, err := s.c.Fetch(imap.UIDSetNum(candidates...), &imap.FetchOptions{UID: true, InternalDate: true}).Collect()
		if err != nil {
			return fmt.Errorf("fetch internaldate: %w", err)
		}
		for _, b := range bufs {
			if b.UID < uidNext && !b.InternalDate.Before(since) {
				uids = append(uids, b.UID)
			}
		}
		return nil
	})
	slices.Sort(uids)
	return uids, err
}

// fetchNew reports the messages from m.next on.
func (m *Mailbox) fetchNew(s *imapConn) error {
	s.drain()
	var uids []imap.UID
	seen := make(map[imap.UID]time.Time)
	err := s.do(func() error {
		// "n:*" also matches the last message when every UID is below n:
		// keep only the UIDs really at or above n. The responses are
		// read one by one so that each message's SeenAt is when its UID
		// came, not when the last one did.
		cmd := s.c.Fetch(imap.UIDSet{{Start: m.next, Stop: 0}}, &imap.FetchOptions{UID: true})
		return fetchEach(cmd, func(b *imapclient.FetchMessageBuffer, at time.Time) {
			if b.UID >= m.next {
				uids = append(uids, b.UID)
				if _, ok := seen[b.UID]; !ok {
					seen[b.UID] = at
				}
			}
		})
	})
	if err != nil {
		return fmt.Errorf("uid fetch %d:*: %w", m.next, err)
	}
	s.lastAsked = time.Now()
	slices.Sort(uids)
	uids = slices.Compact(uids)
	if len(uids) > 0 {
		m.log.Debug("imap new messages", "from_uid", m.next, "count", len(uids))
	}
	err = m.deliver(s, uids, seen, false, func(uid imap.UID) { m.next = max(m.next, uid+1) })
	if err != nil {
		return err
	}
	if n := len(uids); n > 0 {
		// Also past the messages expunged between the two fetches.
		m.next = max(m.next, uids[n-1]+1)
	}
	m.lastGood = time.Now()
	return nil
}

// deliver fetches the watched header fields (and the body when WantBody
// says so) of uids, in order, and hands each message to the subscribers.
// seen holds when the session learnt of a UID; a UID missing from it is
// seen when its header fields arrive. With skipRecent, messages whose
// Message-ID was reported recently are not reported again. delivered is
// called after each message.
//
// Each batch's responses are read one message at a time, and every part is
// a partial fetch: what one batch holds is bounded by the limits, whatever
// the messages hold.
func (m *Mailbox) deliver(s *imapConn, uids []imap.UID, seen map[imap.UID]time.Time, skipRecent bool, delivered func(imap.UID)) error {
	m.pruneRecent()
	for batch := range slices.Chunk(uids, mailboxFetchBatch) {
		var msgs map[imap.UID]*Message
		err := s.do(func() error {
			var err error
			msgs, err = m.fetchBatch(s, batch, seen)
			return err
		})
		if err != nil {
			return err
		}
		m.report(batch, msgs, skipRecent, delivered)
	}
	return nil
}

// fetchBatch fetches the watched header fields of batch, then the bodies
// WantBody asks for, each a partial fetch with BODY.PEEK (never \Seen).
func (m *Mailbox) fetchBatch(s *imapConn, batch []imap.UID, seen map[imap.UID]time.Time) (map[imap.UID]*Message, error) {
	headerSection := &imap.FetchItemBodySection{
		Specifier:    imap.PartSpecifierHeader,
		HeaderFields: m.opts.HeaderFields,
		Peek:         true, // never set \Seen
		// One byte more than the limit tells a header of exactly
		// HeaderLimit bytes from a longer one.
		Partial: &imap.SectionPartial{Offset: 0, Size: m.opts.HeaderLimit + 1},
	}
	msgs := make(map[imap.UID]*Message, len(batch))
	var wantBody []imap.UID
	err := fetchEach(s.c.Fetch(imap.UIDSetNum(batch...), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{headerSection},
	}), func(b *imapclient.FetchMessageBuffer, at time.Time) {
		at = seenAt(seen, b.UID, at)
		raw := b.FindBodySection(headerSection)
		if raw == nil && len(b.BodySection) == 1 {
			raw = b.BodySection[0].Bytes
		}
		raw, truncated := cutHeader(raw, m.opts.HeaderLimit)
		h, err := parseWatchedHeader(raw)
		if err != nil {
			m.log.Debug("imap message with a malformed header", "uid", b.UID, "err", err)
		}
		if truncated {
			m.log.Debug("imap message with watched header fields over the limit", "uid", b.UID, "limit", m.opts.HeaderLimit)
		}
		msgs[b.UID] = &Message{UID: uint32(b.UID), UIDValidity: s.uidValidity, Header: h, HeaderTruncated: truncated, SeenAt: at}
		if m.opts.WantBody != nil && m.opts.WantBody(h) {
			wantBody = append(wantBody, b.UID)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("uid fetch header fields: %w", err)
	}
	if len(wantBody) == 0 {
		return msgs, nil
	}
	if err := m.fetchBodies(s, wantBody, msgs); err != nil {
		return nil, err
	}
	return msgs, nil
}

// fetchBodies adds their bodies, at most BodyLimit bytes each, to msgs.
func (m *Mailbox) fetchBodies(s *imapConn, uids []imap.UID, msgs map[imap.UID]*Message) error {
	bodySection := &imap.FetchItemBodySection{
		Specifier: imap.PartSpecifierText,
		Peek:      true,
		Partial:   &imap.SectionPartial{Offset: 0, Size: m.opts.BodyLimit + 1},
	}
	err := fetchEach(s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{bodySection},
	}), func(b *imapclient.FetchMessageBuffer, _ time.Time) {
		msg := msgs[b.UID]
		if msg == nil {
			return
		}
		body := b.FindBodySection(bodySection)
		if body == nil && len(b.BodySection) == 1 {
			body = b.BodySection[0].Bytes
		}
		if body == nil {
			body = []byte{}
		}
		if int64(len(body)) > m.opts.BodyLimit {
			body, msg.Truncated = body[:m.opts.BodyLimit], true
		}
		msg.Body = body
	})
	if err != nil {
		return fmt.Errorf("uid fetch body: %w", err)
	}
	return nil
}

// report hands the fetched messages of batch to the subscribers in UID
// order, skipping those expunged meanwhile and, with skipRecent, those
// whose Message-ID was reported recently.
func (m *Mailbox) report(batch []imap.UID, msgs map[imap.UID]*Message, skipRecent bool, delivered func(imap.UID)) {
	now := time.Now()
	for _, uid := range batch {
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

// seenAt returns when the session learnt of uid: from seen, or at.
func seenAt(seen map[imap.UID]time.Time, uid imap.UID, at time.Time) time.Time {
	if t, ok := seen[uid]; ok {
		return t
	}
	return at
}

// fetchEach reads cmd's responses one message at a time, calling f with
// each and the time its response came, so that no more than one message's
// data is held by the reading. It always consumes the whole command.
func fetchEach(cmd *imapclient.FetchCommand, f func(b *imapclient.FetchMessageBuffer, at time.Time)) error {
	defer cmd.Close()
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		at := time.Now()
		b, err := msg.Collect()
		if err != nil {
			return err
		}
		f(b, at)
	}
	return cmd.Close()
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

// parseWatchedHeader parses the header fields returned for
// BODY.PEEK[HEADER.FIELDS (...)]. A malformed field ends the parse; the
// fields before it are kept.
func parseWatchedHeader(raw []byte) (mail.Header, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return mail.Header{Header: message.Header{Header: h}}, err
}
