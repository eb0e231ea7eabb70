package mailmanrest_test

import (
	"os"
	"testing"

	"github.com/listprobe/listprobe/internal/testbed"
)

// TestMain deletes the testbed lists the tests retired once they are done
// with (see testbed.MailmanAdmin.RetireList).
func TestMain(m *testing.M) {
	code := m.Run()
	testbed.WaitRetired()
	os.Exit(code)
}
