package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
)

// hyperKittyURL is the testbed's HyperKitty, named by
// LISTPROBE_TESTBED_HYPERKITTY_URL in the testbed's env file or the
// environment. up.sh does not start one yet (Debian 12's mailman3-web and
// python3-mailman-hyperkitty, with Mailman's [archiver.hyperkitty] in the
// configuration of every runner): without it the test skips; once the
// testbed names one, a HyperKitty that does not answer fails it.
func hyperKittyURL(t *testing.T, tb testbed.Env) string {
	t.Helper()
	u := tb["LISTPROBE_TESTBED_HYPERKITTY_URL"]
	if u == "" {
		u = os.Getenv("LISTPROBE_TESTBED_HYPERKITTY_URL")
	}
	if u == "" {
		t.Skip("the testbed runs no HyperKitty (deploy/testbed/hyperkitty.sh)")
	}
	resp, err := http.Get(u + "api/lists/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the testbed's HyperKitty at %s does not answer: %v", u, err)
	}
	resp.Body.Close()
	return u
}

// A real HyperKitty, archiving through Mailman's archiver: a delivered
// probe is archived and its latency recorded; with a HyperKitty URL where
// no archive is (as with a wrong API key, nothing gets archived there) it
// is archive_lost, and delivered all the same.
func TestE2EHyperKittyArchive(t *testing.T) {
	tb := testbed.Load(t)
	hk := hyperKittyURL(t, tb)
	for _, c := range []struct{ url, want string }{
		{hk, "archived"},
		{hk + "nowhere/", "archive_lost"},
	} {
		t.Run(c.want, func(t *testing.T) {
			l := newE2EList(t, tb, nil)
			file := l.config(t, 30*time.Second, true, fmt.Sprintf("    archive: { url: %q, timeout: 20s }\n", c.url))
			code, out, errOut := runCmd(t, "once", "--config.file="+file, "--output=json", "--log.level=warn")
			var doc struct {
				Results []struct {
					Outcome string `json:"outcome"`
					Archive *struct {
						Result  string   `json:"result"`
						Latency *float64 `json:"latency_seconds"`
						Reason  string   `json:"reason"`
					} `json:"archive"`
				} `json:"results"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
				t.Fatalf("once: exit %d, %v\n%s\n%s", code, err, out, errOut)
			}
			r := doc.Results[0]
			t.Logf("exit %d: %s, archive %+v", code, r.Outcome, r.Archive)
			if code != 0 || r.Outcome != "delivered" || r.Archive == nil || r.Archive.Result != c.want {
				t.Fatalf("exit %d, outcome %s, archive %+v; want delivered and %s", code, r.Outcome, r.Archive, c.want)
			}
		})
	}
}
