package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestAuditAllIsShortForEveryList(t *testing.T) {
	cfg, err := LoadFile("testdata/good-audit-all.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Mailman["main"].Audit
	if a == nil || a.Lists != AuditAll || time.Duration(a.Refresh) != DefaultAuditRefresh ||
		a.MaxRequestsPerSecond != DefaultAuditRate || a.MaxLists != DefaultAuditMaxLists || a.Baseline != nil {
		t.Fatalf("audit: all gave %+v", a)
	}
	if !a.Audited("anything@anywhere.example") || a.Checks("x@y.example") != nil {
		t.Error("audit: all leaves a list out or checks a baseline it does not have")
	}
}

func TestAuditIncludeExcludeAndBaseline(t *testing.T) {
	cfg, err := LoadFile("testdata/good-audit-full.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Mailman["main"].Audit
	for list, want := range map[string]bool{
		"users@lists.example.org":      true,
		"Users@Lists.Example.ORG":      true, // globs match case-insensitively
		"test-1@lists.example.org":     false,
		"users@other.example.org":      false,
		"users@lists.example.org.evil": false, // the whole address must match
	} {
		if got := a.Audited(list); got != want {
			t.Errorf("Audited(%q) = %v, want %v", list, got, want)
		}
	}
	if got := a.Checks("announce-staff@lists.example.org"); got != nil {
		t.Errorf("an excepted list is checked: %v", got)
	}
	got := a.Checks("users@lists.example.org")
	want := []Drift{{"default_member_action", "defer|accept"}, {"default_nonmember_action", "hold|reject|discard"}, {"emergency", "false"}}
	if len(got) != len(want) {
		t.Fatalf("checks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("check %d = %v, want %v", i, got[i], want[i])
		}
	}
	if !got[0].Allows("accept") || got[0].Allows("hold") || got[0].Allows("accept|defer") {
		t.Error("Allows is not an exact match of one allowed value")
	}
}

// The round's requests and the interval: the refresh grows with the lists.
func TestAuditInterval(t *testing.T) {
	a := &AuditConfig{Refresh: Duration(5 * time.Minute), MaxRequestsPerSecond: 10}
	for _, tc := range []struct {
		total, audited, requests int
		interval                 time.Duration
	}{
		{0, 0, 0, 5 * time.Minute},
		{200, 200, 2 + 400, 5 * time.Minute},
		{1000, 800, 10 + 1600, 5 * time.Minute},
		{10000, 10000, 100 + 20000, 2010 * time.Second},
		{10001, 10, 101 + 20, 5 * time.Minute},
	} {
		if got := RoundRequests(tc.total, tc.audited); got != tc.requests {
			t.Errorf("RoundRequests(%d, %d) = %d, want %d", tc.total, tc.audited, got, tc.requests)
		}
		if got := a.Interval(tc.total, tc.audited); got != tc.interval {
			t.Errorf("Interval(%d, %d) = %v, want %v", tc.total, tc.audited, got, tc.interval)
		}
	}
}

func TestAuditConfigErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"bad-audit-scalar.yml", `bad-audit-scalar.yml:15: mailman.main.audit: "everything" is not a choice: write ` + "`audit: all`" + ` or a mapping with lists, include, exclude, baseline`},
		{"bad-audit-lists.yml", `bad-audit-lists.yml:16: mailman.main.audit.lists: "some" is not a choice: the only one is all (then include and exclude)`},
		{"bad-audit-glob.yml", `bad-audit-glob.yml:16: mailman.main.audit.include[0]: "[a-@lists.example.org" is not a glob like *@lists.example.org: syntax error in pattern`},
		{"bad-audit-action.yml", `bad-audit-action.yml:17: mailman.main.audit.baseline.default_member_action[1]: "deliver" is not a Mailman action (accept, hold, reject, discard, defer)`},
		{"bad-audit-empty-baseline.yml", `bad-audit-empty-baseline.yml:16: mailman.main.audit.baseline: checks nothing: set default_member_action, default_nonmember_action or emergency`},
		{"bad-audit-rate.yml", `bad-audit-rate.yml:16: mailman.main.audit.max_requests_per_second: must be between 0.1 and 1000`},
		{"bad-audit-refresh.yml", `bad-audit-refresh.yml:16: mailman.main.audit.refresh: must be at least 1s`},
		{"bad-audit-unknown.yml", `bad-audit-unknown.yml:16: mailman.main.audit.max_list: unknown field; did you mean "max_lists"?`},
		{"bad-audit-not-list.yml", `bad-audit-not-list.yml:17: mailman.main.audit.baseline.default_member_action: must be a list (- item), not a single value`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata", tc.file), nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if want := "testdata/" + tc.want; err.Error() != want {
				t.Errorf("error:\n got: %s\nwant: %s", err, want)
			}
		})
	}
}
