package authn

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The ARC fixtures were sealed by dkimpy (testdata/generate.py), the
// library Mailman 3 seals with: the list lists.example.test adds a footer
// and seals (i=1), the receiver example.org seals again (i=2); in
// arc-cvfail.eml the body was changed after the list sealed and the second
// sealer said cv=fail.

func arcWorld(t *testing.T) (*testDNS, *Options) {
	t.Helper()
	d := startDNS(t)
	d.loadZone(t, filepath.Join("testdata", "zone.txt"))
	return d, &Options{ListDomain: "lists.example.test", AuthServIDs: []string{"mx.example.org"}, Resolver: d.resolver(t, 0)}
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestARCChainSealedByDkimpyVerifies(t *testing.T) {
	_, o := arcWorld(t)
	for _, tc := range []struct {
		file      string
		instances int
		domain    string
	}{{"arc-list.eml", 1, "lists.example.test"}, {"arc-two.eml", 2, "example.org"}} {
		v := verify(t, fixture(t, tc.file), o)
		if v.ARC.Instances != tc.instances || v.ARC.Result != ResultPass {
			t.Fatalf("%s: chain %+v", tc.file, v.ARC)
		}
		wantCheck(t, tc.file+" arc", v.Checks.ARC, ResultPass, tc.domain)
		for _, set := range v.ARC.Sets {
			if set.Seal != ResultPass {
				t.Errorf("%s: set %d seal %s (%s)", tc.file, set.Instance, set.Seal, set.Reason)
			}
		}
		// The list's own set verifies, seal and message signature: the
		// list server sent the message as it is, though the footer broke
		// the poster's DKIM signature.
		if !v.Authenticated || v.Path != PathARC || !strings.Contains(v.Reason, "ARC set 1 of lists.example.test verifies") {
			t.Errorf("%s: verdict %s %s %q", tc.file, v.Path, v.Checks.DKIM.Result, v.Reason)
		}
		wantCheck(t, tc.file+" dkim", v.Checks.DKIM, ResultFail, "poster.example")
	}
}

func TestARCChainThatASealerCalledFailedFails(t *testing.T) {
	_, o := arcWorld(t)
	v := verify(t, fixture(t, "arc-cvfail.eml"), o)
	if v.ARC.Result != ResultFail || v.ARC.Reason != "instance 2 says cv=fail" {
		t.Fatalf("chain %+v", v.ARC)
	}
	// The body changed after the list sealed: its set's message signature
	// no longer verifies, so it proves nothing.
	if v.Authenticated || !strings.Contains(v.Reason, "ARC set 1 of lists.example.test does not verify") ||
		!strings.Contains(v.Reason, "body hash did not verify") {
		t.Fatalf("verdict %v %q", v.Authenticated, v.Reason)
	}
}

func TestBrokenARCSealFailsTheChain(t *testing.T) {
	_, o := arcWorld(t)
	raw := fixture(t, "arc-two.eml")
	for _, tc := range []struct {
		name, old, new, reason string
	}{
		// A changed ARC-Authentication-Results of set 1 breaks every seal
		// that covers it.
		{"results rewritten", "i=1; lists.example.test; dkim=pass", "i=1; lists.example.test; dkim=fail", "seal 2 of example.org does not verify"},
		// Claiming cv=none for the second set breaks its seal (and the rule).
		{"seal signature replaced", "b=leIoaSSYC6e9", "b=AAAAaSSYC6e9", "seal 2 of example.org does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := strings.Replace(raw, tc.old, tc.new, 1)
			if changed == raw {
				t.Fatalf("fixture does not contain %q", tc.old)
			}
			v := verify(t, changed, o)
			if v.ARC.Result != ResultFail || !strings.Contains(v.ARC.Reason, tc.reason) {
				t.Fatalf("chain %s %q, want fail %q", v.ARC.Result, v.ARC.Reason, tc.reason)
			}
			if v.Checks.ARC.Result != ResultFail {
				t.Errorf("check %+v", v.Checks.ARC)
			}
			// Set 1 is covered by both seals: both fail, and the list's
			// set proves nothing.
			if v.ARC.Sets[0].Seal != ResultFail || v.ARC.Sets[1].Seal != ResultFail || v.Authenticated {
				t.Errorf("seals %s %s, authenticated %v", v.ARC.Sets[0].Seal, v.ARC.Sets[1].Seal, v.Authenticated)
			}
		})
	}
	// A key that is gone makes the seals of its domain fail for good; a
	// DNS failure makes the chain a temperror, never a pass.
	d, o := arcWorld(t)
	d.setServfail("arc._domainkey.lists.example.test")
	v := verify(t, raw, o)
	if v.ARC.Result != ResultTempError || v.Authenticated || v.TempError == "" {
		t.Fatalf("DNS failure: chain %+v, authenticated %v", v.ARC, v.Authenticated)
	}
}

func TestARCStructureIsChecked(t *testing.T) {
	_, o := arcWorld(t)
	raw := fixture(t, "arc-two.eml")
	for _, tc := range []struct {
		name   string
		change func(string) string
		reason string
	}{
		{"instance missing", func(s string) string { return regexp.MustCompile(`i=1;`).ReplaceAllString(s, "i=3;") }, "not numbered 1 to 2"},
		{"set incomplete", func(s string) string {
			return strings.Replace(s, "ARC-Authentication-Results: i=2;", "X-Old-ARC-Authentication-Results: i=2;", 1)
		}, "instance 2 is incomplete"},
		{"duplicate", func(s string) string {
			return "ARC-Authentication-Results: i=2; evil.example; arc=pass\r\n" + s
		}, "instance 2 has two arc-authentication-results fields"},
		{"instance out of range", func(s string) string {
			return "ARC-Authentication-Results: i=51; evil.example; arc=pass\r\n" + s
		}, "bad instance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := verify(t, tc.change(raw), o)
			if v.ARC.Result != ResultFail || !strings.Contains(v.ARC.Reason, tc.reason) {
				t.Fatalf("chain %s %q, want fail %q", v.ARC.Result, v.ARC.Reason, tc.reason)
			}
			if v.Authenticated {
				t.Errorf("authenticated by a broken chain: %q", v.Reason)
			}
		})
	}
}

func TestLaterBrokenSetFailsTheChainButNotTheListsSet(t *testing.T) {
	_, o := arcWorld(t)
	raw := fixture(t, "arc-two.eml")
	for _, tc := range []struct{ name, old, new, reason string }{
		{"cv changed", "i=2; cv=pass", "i=2; cv=none", `instance 2 has cv="none", want pass`},
		{"seal with h=", "i=2; cv=pass;", "i=2; cv=pass; h=from;", "must not have h="},
	} {
		v := verify(t, strings.Replace(raw, tc.old, tc.new, 1), o)
		if v.ARC.Result != ResultFail || !strings.Contains(v.ARC.Reason, tc.reason) {
			t.Errorf("%s: chain %s %q, want fail %q", tc.name, v.ARC.Result, v.ARC.Reason, tc.reason)
		}
		// The list's set 1 is intact and covers the message as it is.
		if !v.Authenticated || v.Path != PathARC {
			t.Errorf("%s: %v %q", tc.name, v.Authenticated, v.Reason)
		}
	}
}

func TestARCHeaderOnlyChecksSealsButNotTheBody(t *testing.T) {
	_, o := arcWorld(t)
	msg := SplitMessage([]byte(fixture(t, "arc-two.eml")))
	msg.Body, msg.BodyComplete = nil, false
	v := Verify(context.Background(), msg, o)
	if v.ARC.Result != ResultUnchecked || v.ARC.Sets[0].Seal != ResultPass || v.ARC.Sets[1].Seal != ResultPass {
		t.Fatalf("chain %+v", v.ARC)
	}
	if v.Authenticated {
		t.Fatalf("authenticated without the body: %q", v.Reason)
	}
}

func TestStrangerCannotRideOnTheListsARCSet(t *testing.T) {
	// A subscriber takes a copy the list sealed, changes the body, and
	// seals it again with a key of their own, claiming cv=pass: the chain
	// can verify, but the list's own message signature does not.
	d, o := arcWorld(t)
	raw := strings.Replace(fixture(t, "arc-list.eml"), "list footer", "forged footer", 1)
	d.set("arc._domainkey.stranger.example", keyRecord(t, rsaKey(t, 2)))
	v := verify(t, raw, o)
	if v.Authenticated {
		t.Fatalf("authenticated: %q", v.Reason)
	}
	if !strings.Contains(v.Reason, "ARC set 1 of lists.example.test does not verify") {
		t.Errorf("reason %q", v.Reason)
	}
}

// A list copy captured on the testbed: Mailman 3.3.8 sealed it (ARC, with
// dkimpy), OpenDKIM signed it for lists.example.test on the way out, rspamd
// at the receiving Postfix added its Authentication-Results; the poster's
// own signature broke when Mailman rewrote the message. The keys are the
// testbed's, as its NSD served them (testdata/zone-testbed.txt).
func TestTestbedMailmanCopyAgreesWithRspamd(t *testing.T) {
	d := startDNS(t)
	d.loadZone(t, filepath.Join("testdata", "zone-testbed.txt"))
	o := &Options{ListDomain: "lists.example.test", AuthServIDs: []string{"mail.example.test"},
		AuthResultsBelowReceived: true, Resolver: d.resolver(t, 0)}
	raw := fixture(t, "testbed-mailman-copy.eml")
	v := verify(t, raw, o)
	if !v.Authenticated || v.Path != PathDKIM {
		t.Fatalf("verdict %v %s %q", v.Authenticated, v.Path, v.Reason)
	}
	wantCheck(t, "dkim", v.Checks.DKIM, ResultPass, "lists.example.test")
	wantCheck(t, "spf", v.Checks.SPF, ResultPass, "lists.example.test")
	wantCheck(t, "dmarc", v.Checks.DMARC, ResultPass, "lists.example.test")
	wantCheck(t, "arc", v.Checks.ARC, ResultPass, "lists.example.test")
	wantCheck(t, "list_id", v.Checks.ListID, ResultPass, "tb-dmarc-171330941260.lists.example.test")
	wantCheck(t, "one-click", v.Checks.OneClickUnsubscribe, ResultFail, "")
	// Each DKIM result is rspamd's.
	rspamd := map[string]string{}
	for _, ar := range v.AuthResults {
		if ar.Method == "dkim" {
			rspamd[ar.Domain] = ar.Result
		}
	}
	for _, sig := range v.Signatures {
		r := sig.Result
		if r == ResultPermError {
			r = ResultFail
		}
		if rspamd[sig.Domain] != string(r) {
			t.Errorf("%s: ours %s, rspamd's %s", sig.Domain, sig.Result, rspamd[sig.Domain])
		}
	}
	if len(v.Signatures) != 2 || v.Signatures[1].Reason != "body hash did not verify" {
		t.Errorf("signatures %+v", v.Signatures)
	}
	// Without the body: rspamd's word for the list's signature, the ARC
	// seal still checked.
	msg := SplitMessage([]byte(raw))
	msg.Body, msg.BodyComplete = nil, false
	v = Verify(context.Background(), msg, o)
	if !v.Authenticated || v.Path != PathAuthRes || v.ARC.Sets[0].Seal != ResultPass {
		t.Fatalf("header only: %v %s %q %+v", v.Authenticated, v.Path, v.Reason, v.ARC.Sets)
	}
	// The key removed from DNS: no longer authenticated by DKIM or ARC.
	d.set("list._domainkey.lists.example.test")
	d.set("arc._domainkey.lists.example.test")
	o.AuthServIDs = nil
	v = verify(t, raw, o)
	if v.Authenticated || !strings.Contains(v.Reason, "DKIM signature of lists.example.test does not verify: no key for signature") {
		t.Fatalf("without keys: %v %q", v.Authenticated, v.Reason)
	}
}
