package probe

import (
	"context"
	"time"

	"github.com/listprobe/listprobe/probe/config"
)

// This file reads the memberships of a list's readers: a list may have
// several (readers:), and each one's membership explains its own missing
// copy. The first reader's stays MailmanState.Reader (the metrics' role
// "reader").

// ReaderMembership is one reader's membership of a list.
type ReaderMembership struct {
	Account string // the reader's configured account
	MemberState
}

// memberAccount is one of a list's probe accounts: its name and address.
type memberAccount struct{ account, address string }

// readerAccounts are the list's readers with their addresses.
func readerAccounts(cfg *config.Config, l *config.ListConfig) []memberAccount {
	var out []memberAccount
	for _, name := range l.ReaderAccounts() {
		if a := cfg.Accounts[name]; a != nil {
			out = append(out, memberAccount{account: name, address: a.Address})
		}
	}
	return out
}

// readerMemberships asks Mailman for each reader's membership: one request
// per reader and refresh.
func (w *mailmanWatcher) readerMemberships(ctx context.Context, list string, readers []memberAccount) ([]ReaderMembership, error) {
	out := make([]ReaderMembership, 0, len(readers))
	for _, r := range readers {
		m, err := w.client.Membership(ctx, list, r.address)
		if err != nil {
			return nil, err
		}
		out = append(out, ReaderMembership{Account: r.account, MemberState: m})
	}
	return out, nil
}

// ReaderMember returns the membership of one of the list's readers, as
// Mailman last reported it; ok false when it did not (no mailman:, or not
// read yet).
func (s MailmanState) ReaderMember(account string) (m MemberState, ok bool) {
	for _, r := range s.Readers {
		if r.Account == account {
			return r.MemberState, true
		}
	}
	return MemberState{}, false
}

// readerCannotReceive says why a reader of the probe's list cannot get a
// copy, from its membership; "" when nothing says so.
func (r *probeRun) readerCannotReceive(account string) string {
	st, ok := r.mailmanState()
	if !ok {
		return ""
	}
	m, ok := st.ReaderMember(account)
	if !ok {
		return ""
	}
	if why := cannotReceive(m); why != "" {
		return "the reader " + why + " (Mailman says so since " + st.Since.UTC().Format(time.RFC3339) + " at the latest)"
	}
	return ""
}
