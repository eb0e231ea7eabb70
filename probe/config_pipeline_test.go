package probe

import (
	"strings"
	"testing"
	"time"
)

func TestMailmanPipelineKeys(t *testing.T) {
	base := plaintextConfig("127.0.0.1", false)
	with := func(keys string) string {
		return strings.Replace(base, "password_file: member.password }\nlists:", "password_file: member.password"+keys+" }\nlists:", 1)
	}
	cfg, err := LoadFileWith(writeConfig(t, base), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Mailman["main"]; m.QueueDir != "" || m.slices("out") != 1 || time.Duration(m.RosterRefresh) != DefaultRosterRefresh {
		t.Errorf("defaults: %+v", m.MailmanPipeline)
	}
	dir := t.TempDir()
	cfg, err = LoadFileWith(writeConfig(t, with(", queue_dir: "+dir+", slices: { out: 4, in: 1 }, roster_refresh: 2m")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.Mailman["main"]; m.QueueDir != dir || m.slices("out") != 4 || m.slices("in") != 1 || m.slices("pipeline") != 1 || time.Duration(m.RosterRefresh) != 2*time.Minute {
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
		_, err := LoadFileWith(writeConfig(t, with(keys)), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", keys, err, want)
		}
	}
}
