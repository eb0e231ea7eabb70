package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: no config text, however broken, makes Load panic; it either
// loads or says what is wrong.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("global: {timeout: -5m}\nlists: [~, {}]\naccounts: {a: ~}\n"))
	f.Add([]byte("lists:\n  - address: a@b.c\n    schedule: \"@every 0s\"\n"))
	f.Add([]byte("global: &g\n  <<: *g\n"))
	f.Add([]byte("lists:\n  - &l {address: a@b.c, poster: m}\n  - <<: *l\n    reader: r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load("testdata/fuzz.yml", data, nil)
		if err != nil {
			// Every problem is a ConfigError naming the file.
			var errs ConfigErrors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not ConfigErrors: %T %v", err, err)
			}
			for _, e := range errs {
				if e.File != "testdata/fuzz.yml" || e.Msg == "" {
					t.Fatalf("error without file or message: %+v", e)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("no config and no error")
		}
		// What loads can be scheduled, no faster than the floor.
		for _, l := range cfg.Lists {
			if l.CronSchedule() == nil || l.Interval() < DefaultMinInterval || l.EffectiveTimeout(cfg.Global) >= l.Interval() {
				t.Fatalf("list %s loaded with schedule %v, interval %s, timeout %s", l.Address, l.CronSchedule(), l.Interval(), l.EffectiveTimeout(cfg.Global))
			}
		}
	})
}
