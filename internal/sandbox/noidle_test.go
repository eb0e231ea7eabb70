package sandbox

import "testing"

func TestNoIdleFilterEditsOnlyWhatItMust(t *testing.T) {
	server := lineFilter{editLine: dropIdleCapability}
	in := "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] IMAP server ready\r\n" +
		"a1 OK [CAPABILITY IMAP4rev1 UNSELECT ENABLE IDLE UTF8=ACCEPT] Logged in\r\n" +
		"* CAPABILITY IMAP4rev1 IDLE MOVE\r\n" +
		"* 1 FETCH (BODY[] {27}\r\n* CAPABILITY IMAP4rev1 IDLE)\r\n"
	want := "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] IMAP server ready\r\n" +
		"a1 OK [CAPABILITY IMAP4rev1 UNSELECT ENABLE UTF8=ACCEPT] Logged in\r\n" +
		"* CAPABILITY IMAP4rev1 MOVE\r\n" +
		"* 1 FETCH (BODY[] {27}\r\n* CAPABILITY IMAP4rev1 IDLE)\r\n"
	// Feed byte by byte: lines split across writes are held back whole.
	var out []byte
	for i := 0; i < len(in); i++ {
		out = server.feed(out, []byte{in[i]})
	}
	if string(out) != want {
		t.Errorf("server side:\n%q\nwant\n%q", out, want)
	}

	client := lineFilter{editLine: renameIdleCommand, commandStart: true}
	in = "a2 idle\r\nDONE\r\na3 APPEND INBOX {9}\r\na4 IDLE\r\n\r\na5 IDLE\r\n"
	want = "a2 XIDLE\r\nDONE\r\na3 APPEND INBOX {9}\r\na4 IDLE\r\n\r\na5 XIDLE\r\n"
	if got := string(client.feed(nil, []byte(in))); got != want {
		t.Errorf("client side:\n%q\nwant\n%q", got, want)
	}
}
