package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/listprobe/listprobe/internal/dnstest"
	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/internal/testbed"
	"github.com/listprobe/listprobe/probe"
)

// e2eWorld is a mail world an end-to-end scenario runs in: the real testbed
// (Postfix, Dovecot, Mailman 3) or the in-process sandbox, which serves the
// same Mailman 3 REST API. One harness, two worlds, as go-imap runs one
// client suite against its in-memory server and a real Dovecot: the
// scenarios they share cannot drift apart. testbed.Env is one; sandboxWorld
// is the other.
type e2eWorld interface {
	// Get returns one of the testbed's variables (MEMBER, SMTP,
	// MAILMAN_URL, ...); Secret reads the file a *_FILE variable names.
	Get(t testing.TB, name string) string
	Secret(t testing.TB, name string) string
	MailmanAdmin(t testing.TB) *testbed.MailmanAdmin
}

var _ e2eWorld = testbed.Env{}

// forEachWorld runs scenario in the sandbox and on the testbed (which skips
// without the testbed, and fails under CI=true).
func forEachWorld(t *testing.T, scenario func(t *testing.T, w e2eWorld)) {
	t.Run("sandbox", func(t *testing.T) { scenario(t, startSandboxWorld(t)) })
	t.Run("testbed", func(t *testing.T) { scenario(t, testbed.Load(t)) })
}

// sandboxWorld is the sandbox seen through the testbed's variables.
type sandboxWorld struct {
	w    *sandbox.World
	vars map[string]string
}

func startSandboxWorld(t *testing.T) *sandboxWorld {
	t.Helper()
	accounts := map[string]string{"MEMBER": "member@example.org", "READER": "reader@example.org", "MODERATOR": "moderator@example.org", "OUTSIDER": "outsider@example.org"}
	var opts sandbox.Options
	dir := t.TempDir()
	vars := map[string]string{"LIST_DOMAIN": "lists.example.org"}
	for who, address := range accounts {
		pw := who + "-password"
		opts.Accounts = append(opts.Accounts, sandbox.Account{Address: address, Password: pw})
		file := filepath.Join(dir, who)
		if err := os.WriteFile(file, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
		vars[who], vars[who+"_PASSWORD_FILE"] = address, file
	}
	w, err := sandbox.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	rest := filepath.Join(dir, "mailman-rest")
	if err := os.WriteFile(rest, []byte(w.MailmanPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	vars["SMTP"], vars["IMAP"] = w.SMTPAddr, w.IMAPAddr
	// A DNS server of the test's own (no test asks the machine's), and
	// the sandbox's list server told by the Received field its MTA adds.
	vars["DNS"], vars["LIST_HOSTS"], vars["RECEIVER"] = dnstest.Start(t).Addr, "127.0.0.1", w.Hostname()
	vars["MAILMAN_URL"], vars["MAILMAN_USER"], vars["MAILMAN_PASSWORD_FILE"] = w.MailmanURL, w.MailmanUsername, rest
	return &sandboxWorld{w: w, vars: vars}
}

func (s *sandboxWorld) Get(t testing.TB, name string) string {
	t.Helper()
	v, ok := s.vars[name]
	if !ok {
		t.Fatalf("the sandbox world has no %s", name)
	}
	return v
}

func (s *sandboxWorld) Secret(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(s.Get(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (s *sandboxWorld) MailmanAdmin(t testing.TB) *testbed.MailmanAdmin {
	return &testbed.MailmanAdmin{URL: s.w.MailmanURL, Username: s.w.MailmanUsername, Password: s.w.MailmanPassword}
}

// gaugeValue returns the value of svc's gauge name whose labels include
// the given name, value pairs; -1 when there is none.
func gaugeValue(t testing.TB, svc *probe.Service, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := svc.Metrics().Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if match {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// evidenceConfig is what an e2e config says about evidence (issue 15): the
// world's DNS server (the testbed's NSD holds the list domains' DKIM
// keys), and, for the sandbox, whose list server signs nothing, a list
// server told by its MTA's Received field. globalDNS goes into global:,
// listServers before lists:, listLine into each list.
//
// On the testbed it takes the DNS lock shared: the list's notices are
// believed by the list domain's DKIM key, which a test that breaks it
// changes for everyone.
func evidenceConfig(t testing.TB, tb e2eWorld) (globalDNS, listServers, listLine string) {
	t.Helper()
	switch w := tb.(type) {
	case *sandboxWorld:
		return fmt.Sprintf("  dns: { server: %q }\n", w.vars["DNS"]),
			fmt.Sprintf("list_servers:\n  sandbox: { hosts: [%s], receiver_hosts: [%s] }\n", w.vars["LIST_HOSTS"], w.vars["RECEIVER"]),
			"    list_server: sandbox\n"
	case testbed.Env:
		if dns := w[testbed.Prefix+"DNS"]; dns != "" {
			w.LockDNS(t)
			return fmt.Sprintf("  dns: { server: %q }\n", dns), "", ""
		}
	}
	return "", "", ""
}
