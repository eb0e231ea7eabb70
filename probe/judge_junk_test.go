package probe

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
)

// The Junk folder follows exactly INBOX's rules: for every kind of message
// (the list's copy of a pending, a recorded, another process's probe; a
// forged copy; what people make of a probe; someone's spam) and whatever
// listprobe knows of the probe, the verdict in Junk is the verdict in
// INBOX (what counts, what is deleted, and when) but for where it arrived
// and its sentence.
func TestJudgeJunkFollowsInboxRules(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	cfg := judgeConfig(t, true)
	signer := cfg.Signer()
	tok := signer.NewToken(judgeList, now.Add(-10*time.Second))
	pm := compose.Probe{From: testMember, List: judgeList, Token: signer.Encode(tok), Date: tok.SentAt}
	copyRaw, err := compose.Message(pm, nil)
	if err != nil {
		t.Fatal(err)
	}
	forger, _ := token.NewSigner([]byte("not-the-real-signing-key-000"))
	forgedRaw, _ := compose.Message(compose.Probe{From: testMember, List: judgeList, Token: forger.Encode(forger.NewToken(judgeList, now)), Date: now}, nil)
	messages := map[string]string{
		"the list's copy": string(copyRaw),
		"a forged copy":   string(forgedRaw),
		"someone's spam":  "From: winner@example.net\r\nTo: " + testReader + "\r\nSubject: you won\r\nMessage-ID: <won@example.net>\r\nX-Spam-Flag: YES\r\n\r\nClaim it.\r\n",
	}
	for name, raw := range humanMessages(judgeList, pm.Token, pm.MessageID()) {
		messages[name] = raw
	}
	views := map[string]Probes{
		"pending":       fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Pending: true, Signer: signer, Config: cfg, List: judgeList, PosterAccount: "member", SentAt: tok.SentAt}}},
		"recorded":      fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Signer: signer, List: judgeList}}},
		"another's":     fakeProbes{},
		"earlier run's": fakeProbes{instance: "host/0", started: now},
	}
	copies := 0
	for name, raw := range messages {
		for view, probes := range views {
			in := incoming(t, "reader", raw, now)
			inbox := Judge(in, cfg, probes)
			in.Placement = PlacementJunk
			junk := Judge(in, cfg, probes)
			if inbox.Placement != PlacementInbox || junk.Placement != PlacementJunk {
				t.Errorf("%s (%s): placements %q and %q", name, view, inbox.Placement, junk.Placement)
			}
			if junk.Copy && junk.Deletable && !strings.Contains(junk.Why, "Junk folder") {
				t.Errorf("%s (%s): a copy in Junk says %q", name, view, junk.Why)
			}
			copies += btoi(junk.Copy)
			inbox.Placement, junk.Placement, inbox.Why, junk.Why = "", "", "", ""
			if !reflect.DeepEqual(inbox, junk) {
				t.Errorf("%s (%s): in Junk\n%+v\nin INBOX\n%+v", name, view, junk, inbox)
			}
		}
	}
	if copies == 0 {
		t.Fatal("no message was judged the list's copy: the table tests nothing")
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
