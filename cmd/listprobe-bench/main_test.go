//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// TestMain lets the test binary play the sandbox process, as the
// benchmark's own binary does when startWorld runs it again.
func TestMain(m *testing.M) {
	if os.Getenv(worldEnv) != "" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestPlanGivesEachPolicyItsShareInterleaved(t *testing.T) {
	m, err := parseMix("deliver=86,delay=4,hold=4,reject=4,drop=2")
	if err != nil {
		t.Fatal(err)
	}
	lists := plan(2000, m)
	count := map[sandbox.Policy]int{}
	seen := map[string]bool{}
	for _, l := range lists {
		count[l.Policy]++
		if seen[l.Address] {
			t.Fatalf("address %s twice", l.Address)
		}
		seen[l.Address] = true
		if !strings.Contains(l.Address, "-"+string(l.Policy)+"@") {
			t.Errorf("%s does not name its policy %s", l.Address, l.Policy)
		}
	}
	want := map[sandbox.Policy]int{sandbox.Deliver: 1720, sandbox.Delay: 80, sandbox.Hold: 80, sandbox.Reject: 80, sandbox.Drop: 40}
	for p, n := range want {
		if count[p] != n {
			t.Errorf("%s: %d lists, want %d", p, count[p], n)
		}
	}
	// Interleaved: the first hundred lists already have every policy.
	first := map[sandbox.Policy]bool{}
	for _, l := range lists[:100] {
		first[l.Policy] = true
	}
	if len(first) != 5 {
		t.Errorf("the first 100 lists have only policies %v", first)
	}
}

func TestParseMixRefusesMistakes(t *testing.T) {
	for _, bad := range []string{"", "deliver", "deliver=x", "deliver=-1", "bounce=3", "deliver=1,deliver=2", "deliver=0,drop=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted it", bad)
		}
	}
	m, err := parseMix(" drop = 1 ")
	if err != nil || m[sandbox.Drop] != 1 || len(m) != 1 {
		t.Errorf("parseMix(\" drop = 1 \") = %v, %v", m, err)
	}
}

func TestParseFlagsRefusesADelayThatCouldMissTheTimeout(t *testing.T) {
	for _, args := range [][]string{
		{"-timeout", "30s", "-delay", "20s"},
		{"-delay", "0s"},
		{"-lists", "0"},
		{"-duration", "0s"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted it", args)
		}
	}
	// Without delayed lists the delay does not matter.
	if _, err := parseFlags([]string{"-mix", "deliver=1", "-delay", "0s"}, io.Discard); err != nil {
		t.Errorf("a mix without delay refused -delay 0s: %v", err)
	}
}

func TestPeakConcurrentCountsOverlapsOnly(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	probes := [][2]int{{0, 10}, {1, 3}, {2, 4}, {10, 12}, {4, 5}}
	var events []event
	for _, p := range probes {
		events = append(events, event{at(p[0]), +1}, event{at(p[1]), -1})
	}
	// At 2 s three overlap; the probe starting at 10 s begins as the first
	// one ends, and the one at 4 s as the one at 2 s ends.
	if got := peakConcurrent(events); got != 3 {
		t.Errorf("peak = %d, want 3", got)
	}
}

func TestWriteConfigLoadsWithEveryListAndExpectation(t *testing.T) {
	m, _ := parseMix("deliver=2,hold=1,drop=1")
	lists := plan(8, m)
	s := &settings{lists: 8, schedule: "* * * * *", timeout: 30 * time.Second, mix: m, mailman: true, cleanup: true}
	w := &world{worldHello: worldHello{SMTP: "127.0.0.1:2525", IMAP: "127.0.0.1:1143", MailmanURL: "http://127.0.0.1:8001/3.1",
		MailmanUsername: "restadmin", MailmanPassword: "restpass"}, lists: lists}
	file, err := writeConfig(t.TempDir(), s, w)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Accounts["reader"].Cleanup || !cfg.Accounts["member"].Cleanup {
		t.Errorf("-cleanup true: reader cleanup %v, member cleanup %v", cfg.Accounts["reader"].Cleanup, cfg.Accounts["member"].Cleanup)
	}
	if len(cfg.Lists) != len(lists) {
		t.Fatalf("config has %d lists, want %d", len(cfg.Lists), len(lists))
	}
	for i, l := range cfg.Lists {
		want := config.ExpectDelivered
		if lists[i].Policy == sandbox.Hold {
			want = config.ExpectHeld
		}
		if l.Address != lists[i].Address || l.Expect != want || l.Mailman != "main" {
			t.Errorf("list %d: %s expect %s mailman %q; want %s expect %s mailman main", i, l.Address, l.Expect, l.Mailman, lists[i].Address, want)
		}
	}
}

func TestWorldProcessServesThePlanAndCountsSessions(t *testing.T) {
	args := []string{"-lists", "3", "-mix", "deliver=1"}
	s, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	lists := plan(s.lists, s.mix)
	w, err := startWorld(lists, args, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	c, err := smtp.Dial(w.SMTP)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", benchMember, benchMemberPassword)); err != nil {
		t.Fatalf("the member cannot log in to the sandbox process: %v", err)
	}
	post := "From: " + benchMember + "\r\nTo: " + lists[2].Address + "\r\nSubject: hello\r\nMessage-ID: <hello@example.org>\r\n\r\nhello\r\n"
	if err := c.SendMail(benchMember, []string{lists[2].Address}, bytes.NewReader([]byte(post))); err != nil {
		t.Fatalf("post to the third list: %v", err)
	}
	c.Quit()
	var st worldStats
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err = w.stats(); err != nil {
			t.Fatal(err)
		}
		if st.Stats.Stored == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Stats.SMTPSessions != 1 || st.Stats.ListPosts != 1 || st.Stats.Stored != 1 {
		t.Errorf("after one post: %+v; want 1 SMTP session, 1 list post, 1 message stored", st.Stats)
	}
	if st.Rusage.cpu() <= 0 {
		t.Errorf("the sandbox process reports no CPU time: %+v", st.Rusage)
	}
	if err := w.close(); err != nil {
		t.Errorf("the sandbox process did not end cleanly: %v", err)
	}
}

func TestTallyCountsEveryOutcomeTheSandboxDidNotCause(t *testing.T) {
	m, _ := parseMix("deliver=1,delay=1,hold=1,reject=1,drop=1")
	lists := plan(5, m)
	byPolicy := map[sandbox.Policy]string{}
	for _, l := range lists {
		byPolicy[l.Policy] = l.Address
	}
	counts := map[string]map[probe.Outcome]int{
		byPolicy[sandbox.Deliver]:           {probe.Delivered: 4, probe.Lost: 1},
		byPolicy[sandbox.Delay]:             {probe.Delivered: 5},
		byPolicy[sandbox.Hold]:              {probe.Held: 3, probe.Delivered: 2},
		byPolicy[sandbox.Reject]:            {probe.Rejected: 5},
		byPolicy[sandbox.Drop]:              {probe.Lost: 4, probe.Error: 1},
		"not-in-the-plan@lists.example.org": {probe.Delivered: 7},
	}
	var fig figures
	fig.tally(lists, counts, func(string, probe.Outcome) string { return "because" })
	if fig.Finished != 25 || fig.Wrong != 4 {
		t.Errorf("finished %d, wrong %d; want 25 and 4 (a lost copy of a delivering list, two deliveries of a holding one, an error of a dropping one)", fig.Finished, fig.Wrong)
	}
	if len(fig.WrongExamples) != 3 {
		t.Errorf("examples %q, want one per wrong list and outcome", fig.WrongExamples)
	}
	if got := fig.Outcomes["hold"]["delivered"]; got != 2 {
		t.Errorf("hold → delivered counted %d, want 2", got)
	}
}
