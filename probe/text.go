package probe

import "github.com/listprobe/listprobe/checks"

// readable makes text from a mail server fit for a label, a log line, the
// JSON and the page (checks.ReadableText: bytes that are not UTF-8 read as
// Windows-1252, no control characters, one line).
func readable(s string) string { return checks.ReadableText([]byte(s)) }
