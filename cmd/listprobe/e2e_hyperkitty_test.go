package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/hyperkitty"
	"github.com/listprobe/listprobe/internal/testbed"
)

// archiveProbe is one probe's result in once's JSON, with its archive check.
type archiveProbe struct {
	Outcome   string `json:"outcome"`
	MessageID string `json:"message_id"`
	Archive   *struct {
		Result  string   `json:"result"`
		Latency *float64 `json:"latency_seconds"`
		Reason  string   `json:"reason"`
	} `json:"archive"`
}

// runArchiveProbe probes l once with archive: { url: hk } and checks that
// the probe was delivered and that its archive check ended want
// (archived, with a latency within the timeout, or archive_lost).
func runArchiveProbe(t *testing.T, l *e2eList, hk string, timeout time.Duration, want string) archiveProbe {
	t.Helper()
	file := l.config(t, 30*time.Second, true, fmt.Sprintf("    archive: { url: %q, timeout: %s }\n", hk, timeout))
	return onceArchive(t, file, timeout, want)
}

// onceArchive runs once on a config whose list has an archive: with the
// given timeout, and checks that the probe was delivered and that its
// archive check ended want.
func onceArchive(t *testing.T, file string, timeout time.Duration, want string) archiveProbe {
	t.Helper()
	code, out, errOut := runCmd(t, "once", "--config.file="+file, "--output=json", "--log.level=warn")
	var doc struct {
		Results []archiveProbe `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("once: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	r := doc.Results[0]
	if r.Archive != nil && r.Archive.Latency != nil {
		t.Logf("archive latency %.2fs", *r.Archive.Latency)
	}
	t.Logf("exit %d: %s, archive %+v", code, r.Outcome, r.Archive)
	if code != 0 || r.Outcome != "delivered" || r.Archive == nil || r.Archive.Result != want {
		t.Fatalf("exit %d, outcome %s, archive %+v; want delivered and %s", code, r.Outcome, r.Archive, want)
	}
	if want == "archived" && (r.Archive.Latency == nil || *r.Archive.Latency <= 0 || *r.Archive.Latency > timeout.Seconds()+30) {
		t.Fatalf("archived with latency %v; want between 0 and the timeouts", r.Archive.Latency)
	}
	if want == "archive_lost" && (r.Archive.Latency != nil || r.Archive.Reason == "") {
		t.Fatalf("archive_lost with latency %v and reason %q; want no latency and a reason", r.Archive.Latency, r.Archive.Reason)
	}
	return r
}

// inHyperKitty asks HyperKitty itself, not through listprobe, whether it
// has the message in list's archive.
func inHyperKitty(t *testing.T, hk, list, messageID string) bool {
	t.Helper()
	u, err := hyperkitty.EmailURL(hk, list, messageID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := hyperkitty.Has(ctx, http.DefaultClient, u, messageID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// A real HyperKitty (deploy/testbed/hyperkitty.sh), archiving every list
// through Mailman's archiver: a delivered probe is archived and its latency
// recorded. On a list whose HyperKitty archiver is off (Mailman's per-list
// archiver setting: as when the list's archiver stops, and no other list is
// touched) it is archive_lost, and delivered all the same. The fault suite
// (TestFaultHyperKittyArchiverBroken) stops HyperKitty and gives it a wrong
// API key.
func TestE2EHyperKittyArchive(t *testing.T) {
	tb := testbed.Load(t)
	hk := tb.HyperKittyURL(t)
	for _, archiving := range []bool{true, false} {
		want := "archived"
		if !archiving {
			want = "archive_lost"
		}
		t.Run(want, func(t *testing.T) {
			t.Parallel()
			l := newE2EList(t, tb, nil)
			if !archiving {
				if err := l.admin.SetArchiver(context.Background(), l.address, "hyperkitty", false); err != nil {
					t.Fatal(err)
				}
			}
			r := runArchiveProbe(t, l, hk, 20*time.Second, want)
			// HyperKitty agrees.
			if got := inHyperKitty(t, hk, l.address, r.MessageID); got != archiving {
				t.Fatalf("HyperKitty has %s: %v, want %v", r.MessageID, got, archiving)
			}
		})
	}
}
