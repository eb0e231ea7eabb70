package config

import (
	"fmt"

	"github.com/listprobe/listprobe/checks/servertext"
)

// Config errors quote what the file says, and a file can say anything: a
// 50 MB schedule, a key of a megabyte, control characters. What they echo
// is cut, so that an error stays a line a person can read.
const (
	// maxConfigEcho bounds one value or field name quoted in an error.
	maxConfigEcho = 200
	// maxConfigMsg bounds one error's message.
	maxConfigMsg = 1024
	// maxConfigSize bounds the config file: far more than a hundred
	// thousand lists need, far less than what would exhaust memory.
	maxConfigSize = 32 << 20
	// maxConfigErrorsShown bounds the errors one report lists: a file of
	// a hundred thousand bad entries gets its first ones and a count.
	maxConfigErrorsShown = 200
)

// configMsg formats an error message with every string or error argument
// cut to maxConfigEcho bytes, then the whole cut to maxConfigMsg and kept on
// one line.
func configMsg(format string, args ...any) string {
	for i, a := range args {
		switch a := a.(type) {
		case string:
			args[i] = servertext.Truncate(a, maxConfigEcho)
		case error:
			args[i] = servertext.Truncate(a.Error(), maxConfigMsg)
		case fmt.Stringer:
			args[i] = servertext.Truncate(a.String(), maxConfigEcho)
		}
	}
	return servertext.Clean(fmt.Sprintf(format, args...), maxConfigMsg)
}

// configField cuts a field name for an error: a key is the file's text too.
func configField(s string) string { return servertext.Clean(s, maxConfigEcho) }
