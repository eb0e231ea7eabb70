package testbed

import (
	"os"
	"testing"
)

// TestMain deletes the lists the tests retired once they are done with
// (see MailmanAdmin.RetireList).
func TestMain(m *testing.M) {
	code := m.Run()
	WaitRetired()
	os.Exit(code)
}
