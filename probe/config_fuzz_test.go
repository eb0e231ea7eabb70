package probe

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: no config text, however broken, makes Load panic; it either
// loads or says what is wrong.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/config/*.yml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("global: {timeout: -5m}\nlists: [~, {}]\naccounts: {a: ~}\n"))
	f.Add([]byte("lists:\n  - address: a@b.c\n    schedule: \"@every 0s\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load("testdata/config/fuzz.yml", data)
		if err == nil && cfg == nil {
			t.Fatal("no config and no error")
		}
	})
}
