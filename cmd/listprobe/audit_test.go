package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCheckConfigReportsTheAudit(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check-config", "--config.file=../../probe/config/testdata/good-audit-full.yml"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{
		"mailman main: audit: lists matching *@lists.example.org except test-*@* (at most 500), without posting",
		"at most 2.5 REST requests/s (150/min)",
		"rounds start every max(10m0s, requests/2.5 s), e.g. 13m24s for 1,000 lists",
		"baseline: default_member_action in defer|accept, default_nonmember_action in hold|reject|discard, emergency in false except lists matching announce*@*",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("check-config says\n%s\nwithout %q", stdout.String(), want)
		}
	}
}
