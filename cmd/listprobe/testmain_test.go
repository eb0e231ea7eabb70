package main

import (
	"context"
	"os"
	"testing"

	"github.com/listprobe/listprobe/internal/testbed"
)

// runAsListprobe, set in the environment, makes the test binary run
// listprobe itself with its arguments: the docs' commands run it as
// printed (listprobeOnPath).
const runAsListprobe = "LISTPROBE_TEST_AS_MAIN"

// TestMain deletes the testbed lists the tests retired once they are done
// with (see testbed.MailmanAdmin.RetireList).
func TestMain(m *testing.M) {
	if os.Getenv(runAsListprobe) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	testbed.WaitRetired()
	os.Exit(code)
}
