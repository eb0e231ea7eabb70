package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMailmanPipelineKeys(t *testing.T) {
	base := plaintextConfig("127.0.0.1", false)
	with := func(keys string) string {
		return strings.Replace(base, "password_file: member.password }\nlists:", "password_file: member.password"+keys+" }\nlists:", 1)
	}
	cfg, err := LoadFile(writeConfig(t, base), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Mailman["main"]; m.QueueDir != "" || m.SliceCount("out") != 1 || time.Duration(m.RosterRefresh) != DefaultRosterRefresh {
		t.Errorf("defaults: %+v", m.MailmanPipeline)
	}
	dir := t.TempDir()
	cfg, err = LoadFile(writeConfig(t, with(", queue_dir: "+dir+", slices: { out: 4, in: 1 }, roster_refresh: 2m")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Mailman["main"]; m.QueueDir != dir || m.SliceCount("out") != 4 || m.SliceCount("in") != 1 || m.SliceCount("pipeline") != 1 || time.Duration(m.RosterRefresh) != 2*time.Minute {
		t.Errorf("set: %+v", m.MailmanPipeline)
	}
	for keys, want := range map[string]string{
		", slices: { out: 3 }":              "mailman.main.slices.out: must be a power of two from 1 to 16, as Mailman requires (got 3)",
		", slices: { out: 32 }":             "mailman.main.slices.out: must be a power of two from 1 to 16",
		", slices: { out: 0 }":              "mailman.main.slices.out: must be a power of two",
		", slices: { \"../out\": 2 }":       `mailman.main.slices: "../out" is not a Mailman queue name`,
		", queue_dir: /nonexistent/queue":   `mailman.main.queue_dir: "/nonexistent/queue" is not a directory listprobe can read`,
		", roster_refresh: -1m":             "mailman.main.roster_refresh: must be positive",
		", queue_dirs: /var/lib/mailman3/q": "queue_dirs",
	} {
		_, err := LoadFile(writeConfig(t, with(keys)), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", keys, err, want)
		}
	}
}

func TestListArchiveKeys(t *testing.T) {
	base := plaintextConfig("127.0.0.1", false)
	with := func(archive string) string {
		return strings.Replace(base, "    mailman: main\n", "    mailman: main\n    archive: "+archive+"\n", 1)
	}
	cfg, err := LoadFile(writeConfig(t, with("{ url: \"https://lists.example.org/hyperkitty/\" }")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Lists[0].Archive; a.Kind != ArchiveHyperKitty || time.Duration(a.Timeout) != DefaultArchiveTimeout || a.tlsConfig == nil {
		t.Errorf("HyperKitty archive: %+v", a)
	}
	cfg, err = LoadFile(writeConfig(t, with("{ account: member, timeout: 30s }")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Lists[0].Archive; a.Kind != ArchiveIMAP || a.account == nil || time.Duration(a.Timeout) != 30*time.Second {
		t.Errorf("IMAP archive: %+v", a)
	}
	file := writeConfig(t, with("{ kind: sympa, url: \"https://lists.example.org/sympa\", ca_file: ca.pem }"))
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "ca.pem"), testCA(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Lists[0].Archive; a.Kind != ArchiveSympa || a.tlsConfig == nil || a.tlsConfig.RootCAs == nil || time.Duration(a.Timeout) != DefaultArchiveTimeout {
		t.Errorf("Sympa archive: %+v", a)
	}
	for archive, want := range map[string]string{
		"{ }":             "lists[0].archive: needs a url (HyperKitty), an account (an IMAP archive folder) or kind: sympa with a url",
		"{ kind: sympa }": "lists[0].archive.url: is required for a Sympa archive (Sympa's wwsympa_url), e.g. https://lists.example.org/sympa",
		"{ kind: sympa, url: \"https://u:p@x/s\" }":                    "lists[0].archive.url: is not an http or https URL like https://lists.example.org/sympa",
		"{ kind: sympa, url: \"lists.example.org/sympa\" }":            "lists[0].archive.url: is not an http or https URL",
		"{ kind: sympa, url: \"https://x/s\", ca_file: /nonexistent }": "/nonexistent",
		"{ url: \"ftp://x/\" }":                                        "lists[0].archive.url: is not an http or https URL",
		"{ url: \"https://u:p@x/hyperkitty\" }":                        "lists[0].archive.url: is not an http or https URL",
		"{ kind: imap }":                                               "lists[0].archive.account: is required for an IMAP archive",
		"{ account: nobody }":                                          `lists[0].archive.account: unknown account "nobody"`,
		"{ kind: pipermail, url: \"https://x/\" }":                     `lists[0].archive.kind: "pipermail" is not hyperkitty, imap or sympa`,
		"{ account: member, timeout: -1s }":                            "lists[0].archive.timeout: must be positive",
		"{ account: member, folder: x }":                               "folder",
	} {
		_, err := LoadFile(writeConfig(t, with(archive)), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("archive %s: err = %v, want %q", archive, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "u:p@") {
			t.Errorf("the error echoes the URL's password: %v", err)
		}
	}
}
