package imapwatch

import (
	"errors"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
)

// ErrNoMailbox says that the folder to watch does not exist: no folder has
// the special use asked for and the fallback name is absent too.
var ErrNoMailbox = errors.New("no such folder")

// maxListed bounds the LIST responses one lookup looks at: a mailbox with
// more folders than this is searched only among the first ones (the
// SPECIAL-USE selection returns only the marked folders anyway).
const maxListed = 10000

// watchedMailbox returns the name of the folder this session watches: the
// configured one, or the one the server marks with Options.SpecialUse
// (RFC 6154), else the configured fallback if it exists.
func (m *Mailbox) watchedMailbox(s *imapConn) (string, error) {
	if m.opts.SpecialUse == "" {
		m.name.Store(m.opts.Mailbox)
		return m.opts.Mailbox, nil
	}
	var caps imap.CapSet
	if err := s.do(func() error { caps = s.c.Caps(); return nil }); err != nil {
		return "", fmt.Errorf("capability: %w", err)
	}
	if caps.Has(imap.CapSpecialUse) || caps.Has(imap.CapIMAP4rev2) {
		// LIST-EXTENDED (part of IMAP4rev2) can ask for the marked folders
		// alone; without it a plain LIST carries the attributes.
		opts := &imap.ListOptions{SelectSpecialUse: true}
		if !caps.Has(imap.CapListExtended) && !caps.Has(imap.CapIMAP4rev2) {
			opts = nil
		}
		name, err := m.listFind(s, "*", opts, func(d *imap.ListData) bool {
			return slices.Contains(d.Attrs, m.opts.SpecialUse)
		})
		if err != nil || name != "" {
			return m.found(name, err)
		}
	}
	if m.opts.Mailbox == "" {
		return "", fmt.Errorf("no folder marked %s: %w", m.opts.SpecialUse, ErrNoMailbox)
	}
	name, err := m.listFind(s, m.opts.Mailbox, nil, func(d *imap.ListData) bool {
		return !slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) && !slices.Contains(d.Attrs, imap.MailboxAttrNonExistent)
	})
	if err == nil && name == "" {
		err = fmt.Errorf("no folder marked %s and no folder %q: %w", m.opts.SpecialUse, m.opts.Mailbox, ErrNoMailbox)
	}
	return m.found(name, err)
}

func (m *Mailbox) found(name string, err error) (string, error) {
	if err == nil {
		m.name.Store(name)
	}
	return name, err
}

// listFind sends one LIST and returns the first folder that match accepts.
func (m *Mailbox) listFind(s *imapConn, pattern string, opts *imap.ListOptions, match func(*imap.ListData) bool) (string, error) {
	var name string
	err := s.do(func() error {
		cmd := s.c.List("", pattern, opts)
		for n := 0; n < maxListed; n++ {
			d := cmd.Next()
			if d == nil {
				break
			}
			if name == "" && match(d) {
				name = d.Mailbox
			}
		}
		return cmd.Close()
	})
	if err != nil {
		return "", fmt.Errorf("list %q: %w", pattern, err)
	}
	return name, nil
}

// Name returns the folder the session watches: Options.Mailbox, or the one
// found by its special use; "" before a session has found it.
func (m *Mailbox) Name() string {
	n, _ := m.name.Load().(string)
	return n
}
