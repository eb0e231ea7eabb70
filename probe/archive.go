package probe

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/listprobe/listprobe/checks/hyperkitty"
	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/checks/sympaarchive"
	"github.com/listprobe/listprobe/probe/config"
)

// Archive results: whether a delivered probe's post reached the list's
// archive. They never change the delivery outcome.
const (
	Archived    = "archived"
	ArchiveLost = "archive_lost"
)

// archivePoll is how often the archive is asked while a delivered probe's
// post is not in it yet.
const archivePoll = 2 * time.Second

// ArchiveResult is what the archive check found.
type ArchiveResult struct {
	Result  string   `json:"result"` // archived or archive_lost
	Latency *float64 `json:"latency_seconds"`
	// Reason says where listprobe looked, and the last error if any.
	Reason string `json:"reason"`
}

// checkArchive looks for a delivered probe's post in the list's archive,
// every archivePoll until the archive timeout, and records the result with
// the probe's. The outcome stays delivered whatever it finds.
func (s *Service) checkArchive(ctx context.Context, r *probeRun) {
	a := r.list.Archive
	if a == nil || r.res.Outcome != Delivered || !r.res.Posted {
		return
	}
	has, where := s.archiveReader(r)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(a.Timeout))
	defer cancel()
	start := r.accepted
	if start.IsZero() {
		start = r.res.Started
	}
	var lastErr error
	for {
		ok, err := has(ctx)
		if ok {
			l := time.Since(start).Seconds()
			r.res.Archive = &ArchiveResult{Result: Archived, Latency: &l, Reason: "in the archive (" + where + ")"}
			return
		}
		// A request the timeout itself cut short says nothing.
		if err != nil && ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			reason := "not in the archive (" + where + ") within " + time.Duration(a.Timeout).String() + " of the delivery"
			if lastErr != nil {
				reason += "; last error: " + readable(lastErr.Error())
			}
			r.res.Archive = &ArchiveResult{Result: ArchiveLost, Reason: reason}
			return
		case <-time.After(archivePoll):
		}
	}
}

// archiveReader returns the check of the list's archive kind and a
// description of where it looks.
func (s *Service) archiveReader(r *probeRun) (func(context.Context) (bool, error), string) {
	a, msgID := r.list.Archive, r.res.MessageID
	if a.Kind == config.ArchiveIMAP {
		acc := a.AccountConfig()
		mbox := a.Mailbox
		if mbox == "" {
			mbox = acc.IMAP.Mailbox
		}
		opts := imapwatch.Options{Address: acc.IMAP.Address, TLS: acc.IMAP.TLS, TLSConfig: acc.IMAP.TLSConfig(),
			Username: acc.IMAP.Username, Password: acc.IMAP.Password(), Mailbox: mbox}
		return func(ctx context.Context) (bool, error) {
			return imapwatch.ArchiveFolderHas(ctx, opts, msgID)
		}, "the mailbox of account " + a.Account
	}
	// One transport per probe: its idle connection (reused by the polls 2 s
	// apart) is closed soon after the last one.
	transport := &http.Transport{TLSClientConfig: a.TLSConfig(), IdleConnTimeout: 10 * time.Second}
	client := &http.Client{Timeout: 30 * time.Second, Transport: transport,
		// The archive is read without credentials; a redirect elsewhere
		// is an answer like any other, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if a.Kind == config.ArchiveSympa {
		return sympaArchiveReader(client, a.URL, r.list.Address, msgID)
	}
	u, err := hyperkitty.EmailURL(a.URL, r.list.Address, msgID)
	if err != nil {
		return func(context.Context) (bool, error) { return false, err }, "HyperKitty"
	}
	return func(ctx context.Context) (bool, error) {
		return hyperkitty.Has(ctx, client, u, msgID)
	}, "HyperKitty " + u
}

// sympaArchiveReader looks for the post in Sympa's web archive by its
// Message-ID (checks/sympaarchive); one Archive per probe keeps the
// session that confirmed Sympa's "I am not a spammer" form.
func sympaArchiveReader(client *http.Client, base, list, msgID string) (func(context.Context) (bool, error), string) {
	name, _, _ := strings.Cut(strings.ToLower(list), "@") // Sympa's list names are lower-case
	arc, err := sympaarchive.New(base, name, client)
	if err != nil {
		return func(context.Context) (bool, error) { return false, err }, "Sympa's archive"
	}
	where := "Sympa's archive " + arc.SearchURL(msgID, sympaarchive.Month(time.Now()))
	return func(ctx context.Context) (bool, error) {
		p, err := arc.Has(ctx, msgID, time.Now())
		return p != "", err
	}, where
}
