package mailmanrest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// QueueFile is one entry of a Mailman 3 queue, as the REST listing names
// it: "<time received>+<sha1 hex>". Mailman writes the time at which the
// message entered this queue (time.time() at enqueue, in the server's
// clock), and its runner slices split the range of the hash: with n slices
// (a power of two) slice i takes the hashes whose top bits are i.
type QueueFile struct {
	Name     string    // the file base, e.g. 1764950400.123456+3f...
	Received time.Time // when the message entered the queue
	Hash     string    // 40 hex digits
}

// queueFileName is what a Mailman queue file base looks like. Anything else
// in a listing is ignored: a name from the server never becomes a path
// unless it matches.
var queueFileName = regexp.MustCompile(`^([0-9]{1,12})(\.[0-9]{1,9})?\+([0-9a-f]{40})$`)

// ParseQueueFile reads a queue file base; ok is false when name is not one.
func ParseQueueFile(name string) (QueueFile, bool) {
	m := queueFileName.FindStringSubmatch(name)
	if m == nil {
		return QueueFile{}, false
	}
	secs, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return QueueFile{}, false
	}
	var nanos int64
	if m[2] != "" {
		frac := (m[2][1:] + "000000000")[:9]
		nanos, _ = strconv.ParseInt(frac, 10, 64)
	}
	return QueueFile{Name: name, Received: time.Unix(secs, nanos).UTC(), Hash: m[3]}, true
}

// Slice returns which of n runner slices handles the entry: Mailman gives
// slice i the hashes in [2^160*i/n, 2^160*(i+1)/n). n <= 1 is slice 0.
func (f QueueFile) Slice(n int) int {
	if n <= 1 {
		return 0
	}
	h, ok := new(big.Int).SetString(f.Hash, 16)
	if !ok {
		return 0
	}
	h.Mul(h, big.NewInt(int64(n)))
	h.Rsh(h, 160)
	return int(h.Int64())
}

// Queue is one of Mailman's queues: its name, how many entries it holds
// and the entries the listing named, oldest first.
type Queue struct {
	Name  string
	Count int
	Files []QueueFile
}

// Oldest returns the queue's oldest entry; ok is false when it is empty.
func (q Queue) Oldest() (QueueFile, bool) {
	if len(q.Files) == 0 {
		return QueueFile{}, false
	}
	return q.Files[0], true
}

// maxQueues bounds how many queues of a listing are kept: Mailman has a
// dozen, and a name becomes a metric label.
const maxQueues = 32

var queueName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Queues reads every queue of the server in one request (GET /queues): the
// cost does not grow with the number of lists. Mailman lists each queue's
// file names, oldest first; names that are not queue files are left out.
func (c *Client) Queues(ctx context.Context) ([]Queue, error) {
	var page struct {
		Entries []struct {
			Name  string   `json:"name"`
			Count int      `json:"count"`
			Files []string `json:"files"`
		} `json:"entries"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &page, "queues"); err != nil {
		return nil, err
	}
	var out []Queue
	for _, e := range page.Entries {
		if !queueName.MatchString(e.Name) || len(out) >= maxQueues {
			continue
		}
		q := Queue{Name: e.Name, Count: max(e.Count, len(e.Files))}
		for _, f := range e.Files {
			if qf, ok := ParseQueueFile(f); ok {
				q.Files = append(q.Files, qf)
			}
		}
		sortQueueFiles(q.Files)
		out = append(out, q)
	}
	return out, nil
}

// sortQueueFiles puts files oldest first (Mailman does already; a proxy or
// another version may not).
func sortQueueFiles(fs []QueueFile) {
	slices.SortStableFunc(fs, func(a, b QueueFile) int { return a.Received.Compare(b.Received) })
}

// queueFileReadLimit bounds how much of one queue file is searched. Mailman
// pickles the message's headers before its body, so a Message-ID is near
// the start.
const queueFileReadLimit = 1 << 20

// ErrQueueFileGone is a queue file that left its queue before it could be
// read (a runner took it).
var ErrQueueFileGone = errors.New("queue file gone")

// QueueFileHas reports whether the queue file names (from a REST listing)
// in queue under dir (Mailman's queue_dir, read on the same host or a
// read-only mount) holds messageID: the exact bytes of the Message-ID, as
// Mailman's pickle keeps header values. The REST API lists queue files but
// cannot show them. Only a name that is a queue file base, in a queue
// whose name is a plain word, is opened; the file is only read.
func QueueFileHas(dir, queue string, f QueueFile, messageID string) (bool, error) {
	if !queueName.MatchString(queue) || !queueFileName.MatchString(f.Name) {
		return false, fmt.Errorf("mailman queue file %q/%q: not a queue file name", queue, f.Name)
	}
	// Look for the id without its angle brackets: whatever Mailman did to
	// the field's folding, the id itself has no white space to fold.
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	if len(id) < 8 {
		return false, fmt.Errorf("mailman queue file: Message-ID %q too short to look for", messageID)
	}
	path := filepath.Join(dir, queue, f.Name+".pck")
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, ErrQueueFileGone
	}
	if err != nil {
		return false, fmt.Errorf("mailman queue file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, queueFileReadLimit))
	if err != nil {
		return false, fmt.Errorf("mailman queue file %s: %w", path, err)
	}
	return bytes.Contains(data, []byte(id)), nil
}

// Digest is a list's digest settings and when its last digest went out.
type Digest struct {
	Enabled bool
	// SendPeriodic is whether `mailman digests --periodic` (a cron job)
	// sends the list's digest every Frequency.
	SendPeriodic bool
	Frequency    string // daily, weekly, monthly, quarterly, yearly
	// SizeThresholdKB sends a digest early once its mailbox is this big.
	SizeThresholdKB float64
	// LastSentAt is when Mailman last sent a digest (UTC); zero: never.
	LastSentAt time.Time
}

// ListDigest reads list's digest settings from its configuration.
func (c *Client) ListDigest(ctx context.Context, list string) (Digest, error) {
	id, err := ListID(list)
	if err != nil {
		return Digest{}, err
	}
	var cfg struct {
		Enabled    bool    `json:"digests_enabled"`
		Periodic   bool    `json:"digest_send_periodic"`
		Frequency  string  `json:"digest_volume_frequency"`
		Threshold  float64 `json:"digest_size_threshold"`
		LastSentAt *string `json:"digest_last_sent_at"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &cfg, "lists", id, "config"); err != nil {
		return Digest{}, err
	}
	d := Digest{Enabled: cfg.Enabled, SendPeriodic: cfg.Periodic, Frequency: cfg.Frequency, SizeThresholdKB: cfg.Threshold}
	if cfg.LastSentAt != nil {
		d.LastSentAt = mailmanTime(*cfg.LastSentAt)
	}
	return d, nil
}

// mailmanTime reads one of Mailman's naive UTC timestamps
// ("2026-11-25T16:05:12.345678"); zero when it is not one.
func mailmanTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.999999", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// BounceDisabled returns how many of list's members Mailman stopped
// delivering to because of bounces (delivery_status by_bounces), and how
// many members the list has. Two requests, whatever the roster's size: the
// server filters the roster and listprobe reads only the count of one page
// of one member.
func (c *Client) BounceDisabled(ctx context.Context, list string) (disabled, members int, err error) {
	id, err := ListID(list)
	if err != nil {
		return 0, 0, err
	}
	var found struct {
		TotalSize int `json:"total_size"`
	}
	q := url.Values{"list_id": {id}, "role": {"member"}, "delivery_status": {"by_bounces"}, "count": {"1"}, "page": {"1"}}
	if err := c.Do(ctx, http.MethodGet, q, nil, &found, "members", "find"); err != nil {
		return 0, 0, err
	}
	var l struct {
		MemberCount int `json:"member_count"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &l, "lists", id); err != nil {
		return 0, 0, err
	}
	return found.TotalSize, l.MemberCount, nil
}
