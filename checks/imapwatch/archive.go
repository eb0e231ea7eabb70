package imapwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// ArchiveFolderHas logs in with opts, examines opts.Mailbox (read-only:
// nothing changes, not even \Recent) and searches it for messageID: the
// generic archive, a mailbox that keeps every post of a list.
func ArchiveFolderHas(ctx context.Context, opts Options, messageID string) (bool, error) {
	m := New(opts)
	s := &imapConn{signal: make(chan struct{}, 1), timeout: m.cmdTimeout}
	c, err := m.dial(ctx, s)
	if err != nil {
		return false, fmt.Errorf("archive folder %s: %w", opts.Address, err)
	}
	s.c = c
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := s.do(func() error { return c.Login(opts.Username, opts.Password).Wait() }); err != nil {
		return false, fmt.Errorf("archive folder %s: login as %s: %w", opts.Address, opts.Username, err)
	}
	if err := s.do(func() error {
		_, err := c.Select(m.opts.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		return err
	}); err != nil {
		return false, fmt.Errorf("archive folder %s: examine %s: %w", opts.Address, m.opts.Mailbox, err)
	}
	id := strings.Trim(strings.TrimSpace(messageID), "<>")
	if id == "" {
		return false, errors.New("archive folder: no Message-ID to look for")
	}
	var found bool
	err = s.do(func() error {
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
		if err == nil {
			found = len(data.AllUIDs()) > 0
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("archive folder %s: search: %w", opts.Address, err)
	}
	c.Logout().Wait()
	return found, nil
}
