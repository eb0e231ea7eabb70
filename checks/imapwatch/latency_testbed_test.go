package imapwatch

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/checks/submit"
	"github.com/listprobe/listprobe/internal/testbed"
)

// BenchmarkMailboxLatencyTestbed measures, on the real testbed, how far the
// time Mailbox reports for a list copy (Message.SeenAt, with Expect called
// once the post is accepted, as a probe does) is from the truth: the time
// Dovecot delivered the reader's copy, which its Maildir file name holds to
// the microsecond. It does the same for a plain IMAP poller that asks every
// second (NOOP and a UID FETCH), what other list monitors do, in the same
// run, and prints p50, p90 and max of both errors side by side, with the
// IMAP commands Mailbox sent per probe. Run it with
//
//	go test ./checks/ -run '^$' -bench MailboxLatencyTestbed -benchtime 1x
//
// (LISTPROBE_BENCH_PROBES sets the number of probes, default 25). Without
// the testbed it skips (fails under CI=true). It needs to read the reader's
// Maildir under the testbed's state directory, so it runs as root like
// up.sh. Each probe is a plain post from the member to the testbed's list;
// the bench deletes the reader's copies it posted.
func BenchmarkMailboxLatencyTestbed(b *testing.B) {
	env := testbed.Load(b)
	probes := 25
	if v := os.Getenv("LISTPROBE_BENCH_PROBES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("LISTPROBE_BENCH_PROBES=%q: want a positive number", v)
		}
		probes = n
	}
	for b.Loop() {
		runLatencyBench(b, env, probes)
	}
}

// latencyResult is one probe of the latency bench: when SMTP accepted it,
// when Dovecot delivered it, and when each watcher saw it.
type latencyResult struct {
	id                                    string
	accepted, truth, mailbox, idle, polls time.Time
	commands                              int64
}

func runLatencyBench(b *testing.B, env testbed.Env, probes int) {
	tlsConfig := mailboxTestbedTLS(b, env)
	reader, member, list := env.Get(b, "READER"), env.Get(b, "MEMBER"), env.Get(b, "LIST")
	readerPassword := env.Secret(b, "READER_PASSWORD_FILE")
	memberPassword := env.Secret(b, "MEMBER_PASSWORD_FILE")

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(probes)*30*time.Second)
	defer cancel()

	// Mailbox, as listprobe runs it, counting the lines it writes: one per
	// command, and one per DONE that ends an IDLE. In clear text on
	// loopback, so that the lines can be counted.
	var lines lineCounter
	m, msgs := startLatencyMailbox(b, ctx, env, readerPassword, lines.dial)
	// The same without Expect: IDLE alone, as listprobe did before.
	_, idleMsgs := startLatencyMailbox(b, ctx, env, readerPassword, nil)

	poller := startSecondPoller(b, ctx, env.Get(b, "IMAP"), reader, readerPassword)

	var results []latencyResult
	var uids []uint32
	var uidValidity uint32
	submitOpts := &submit.Options{
		Address:   env.Get(b, "SMTP"),
		TLS:       mailtls.StartTLS,
		TLSConfig: tlsConfig,
		Auth:      func() sasl.Client { return sasl.NewPlainClient("", member, memberPassword) },
	}
	for i := range probes {
		// A random pause puts each post at a random phase of the
		// poller's second.
		pause, _ := rand.Int(rand.Reader, big.NewInt(int64(time.Second)))
		time.Sleep(500*time.Millisecond + time.Duration(pause.Int64()))

		id, msg := latencyMessage(i, member, list)
		before := lines.count()
		sub, err := submit.Send(ctx, submitOpts, member, []string{list}, msg)
		if err != nil {
			b.Fatalf("probe %d: %v", i, err)
		}
		expectDone := m.Expect(sub.AcceptedAt.Add(30 * time.Second))
		got := awaitMessageID(b, ctx, msgs, id, fmt.Sprintf("probe %d: the list's copy %s never reached %s", i, id, reader))
		expectDone()
		commands := lines.count() - before
		idled := awaitMessageID(b, ctx, idleMsgs, id, fmt.Sprintf("probe %d: the IDLE-only watcher never saw %s", i, id))
		uids, uidValidity = append(uids, got.UID), got.UIDValidity
		polled := poller.wait(b, ctx, id)
		truth := env.DeliveryTime(b, reader, id, sub.AcceptedAt.Add(-time.Second))
		results = append(results, latencyResult{id: id, accepted: sub.AcceptedAt, truth: truth, mailbox: got.SeenAt, idle: idled.SeenAt, polls: polled, commands: commands})
	}
	if err := m.Delete(ctx, uidValidity, uids...); err != nil {
		b.Errorf("deleting the bench's copies: %v", err)
	}

	reportLatencyBench(b, results, list)
}

// reportLatencyBench prints the latency bench's figures: each watcher's
// error against the Maildir delivery time, and the IMAP commands per probe.
func reportLatencyBench(b *testing.B, results []latencyResult, list string) {
	var mailboxErr, overAsking, idleErr, pollerErr, delivery []time.Duration
	var commands []int64
	for _, r := range results {
		mailboxErr = append(mailboxErr, r.mailbox.Sub(r.truth))
		// While the copy is due, Mailbox asks every fortieth of the time
		// since the post (see expectInterval): a copy that took 10 s may
		// be seen 250 ms late by design. What is over that is the rest.
		asks := min(max(r.truth.Sub(r.accepted)/expectBackoffRatio, defaultExpectInterval), defaultExpectMaxInterval)
		overAsking = append(overAsking, r.mailbox.Sub(r.truth)-asks)
		pollerErr = append(pollerErr, r.polls.Sub(r.truth))
		idleErr = append(idleErr, r.idle.Sub(r.truth))
		commands = append(commands, r.commands)
		delivery = append(delivery, r.truth.Sub(r.accepted))
	}
	dp50, dp90, dmax := percentiles(delivery)
	mp50, mp90, mmax := percentiles(mailboxErr)
	op50, op90, omax := percentiles(overAsking)
	pp50, pp90, pmax := percentiles(pollerErr)
	ip50, ip90, imax := percentiles(idleErr)
	slices.Sort(commands)
	b.Logf("latency error against the Maildir delivery time, %d probes through %s:", len(results), list)
	b.Logf("%-28s %9s %9s %9s", "", "p50", "p90", "max")
	b.Logf("%-28s %9s %9s %9s", "Mailbox (IDLE + Expect)", ms(mp50), ms(mp90), ms(mmax))
	b.Logf("%-28s %9s %9s %9s", "  over its asking interval", ms(op50), ms(op90), ms(omax))
	b.Logf("%-28s %9s %9s %9s", "Mailbox, IDLE alone", ms(ip50), ms(ip90), ms(imax))
	b.Logf("%-28s %9s %9s %9s", "plain poller, every 1 s", ms(pp50), ms(pp90), ms(pmax))
	b.Logf("%-28s %9s %9s %9s", "(delivery: SMTP to Maildir)", ms(dp50), ms(dp90), ms(dmax))
	b.Logf("Mailbox IMAP commands per probe (SMTP acceptance to the copy): min %d, median %d, max %d",
		commands[0], commands[len(commands)/2], commands[len(commands)-1])
	b.ReportMetric(float64(mp90.Microseconds())/1000, "mailbox-p90-ms")
	b.ReportMetric(float64(pp90.Microseconds())/1000, "poller-p90-ms")
	b.ReportMetric(float64(commands[len(commands)/2]), "commands/probe")
}

// latencyMessage returns the bench's i-th post from member to list, and
// its unique Message-ID.
func latencyMessage(i int, member, list string) (id string, msg []byte) {
	var rnd [8]byte
	rand.Read(rnd[:])
	id = "<latency-bench-" + hex.EncodeToString(rnd[:]) + "@example.test>"
	return id, []byte("From: " + member + "\r\nTo: " + list + "\r\nSubject: listprobe latency bench " + strconv.Itoa(i) +
		"\r\nMessage-ID: " + id + "\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nA latency measurement.\r\n")
}

// startLatencyMailbox runs a Mailbox on the testbed reader's INBOX in
// clear text, dialling through dial (nil: net's), until the bench ends.
func startLatencyMailbox(b *testing.B, ctx context.Context, env testbed.Env, password string, dial func(context.Context, string, string) (net.Conn, error)) (*Mailbox, <-chan Message) {
	up := make(chan error, 100)
	m := New(Options{
		HeaderFields: checks.ClassifyHeaderFields,
		Address:      env.Get(b, "IMAP"),
		TLS:          mailtls.None,
		Username:     env.Get(b, "READER"),
		Password:     password,
		DialContext:  dial,
		OnState:      reportUp(up),
	})
	msgs, unsubscribe := m.Subscribe()
	b.Cleanup(unsubscribe)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	b.Cleanup(func() { stop(); <-done })
	if err := <-up; err != nil {
		b.Fatalf("mailbox session: %v", err)
	}
	return m, msgs
}

// awaitMessageID returns the first message from msgs with Message-ID id,
// and fails the test with failure when ctx ends first.
func awaitMessageID(tb testing.TB, ctx context.Context, msgs <-chan Message, id, failure string) Message {
	tb.Helper()
	for {
		select {
		case msg := <-msgs:
			if msg.UID != 0 && msg.Header.Get("Message-Id") == id {
				return msg
			}
		case <-ctx.Done():
			tb.Fatal(failure)
		}
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// percentiles returns p50, p90 and the maximum (nearest rank).
func percentiles(ds []time.Duration) (p50, p90, maximum time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return rank(0.5), rank(0.9), s[len(s)-1]
}

// secondPoller is the plain poller other list monitors use: every second,
// NOOP and a UID FETCH of the UIDs above the highest seen. It records when
// each Message-ID first came.
type secondPoller struct {
	mu   sync.Mutex
	seen map[string]time.Time
	new  chan struct{}
}

func startSecondPoller(b *testing.B, ctx context.Context, addr string, user, password string) *secondPoller {
	b.Helper()
	// In clear text on loopback, like the Mailbox it is compared with.
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		b.Fatal(err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		c.Close()
		b.Fatal(err)
	}
	p := &secondPoller{seen: map[string]time.Time{}, new: make(chan struct{}, 1)}
	idSection := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
	next := sel.UIDNext
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := c.Noop().Wait(); err != nil {
				return
			}
			cmd := c.Fetch(imap.UIDSet{{Start: next, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{idSection}})
			for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
				at := time.Now()
				buf, err := msg.Collect()
				if err != nil || buf.UID < next {
					continue
				}
				next = buf.UID + 1
				h, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(string(buf.FindBodySection(idSection))))).ReadMIMEHeader()
				p.mu.Lock()
				p.seen[h.Get("Message-Id")] = at
				p.mu.Unlock()
				select {
				case p.new <- struct{}{}:
				default:
				}
			}
			if err := cmd.Close(); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() { c.Close(); <-done })
	return p
}

// wait returns when the poller first saw id.
func (p *secondPoller) wait(b *testing.B, ctx context.Context, id string) time.Time {
	b.Helper()
	for {
		p.mu.Lock()
		at, ok := p.seen[id]
		p.mu.Unlock()
		if ok {
			return at
		}
		select {
		case <-p.new:
		case <-ctx.Done():
			b.Fatalf("the 1 s poller never saw %s", id)
		}
	}
}
