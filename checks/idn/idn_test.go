package idn

import (
	"errors"
	"testing"
)

func TestSameAddressComparesInternationalDomains(t *testing.T) {
	if !SameAddress("Liste@Exämple.test", "liste@xn--exmple-cua.test") {
		t.Error("U-label and A-label forms of one address differ")
	}
	if SameAddress("liste@exämple.test", "liste@example.test") {
		t.Error("exämple.test and example.test are one domain")
	}
}

func TestEnvelope(t *testing.T) {
	from, to, utf8, err := Envelope(false, "m@exämple.test", []string{"l@exämple.test"})
	if err != nil || from != "m@xn--exmple-cua.test" || to[0] != "l@xn--exmple-cua.test" || utf8 {
		t.Errorf("without SMTPUTF8: %s %v %v %v", from, to, utf8, err)
	}
	from, to, utf8, err = Envelope(true, "m@exämple.test", []string{"jörg@exämple.test"})
	if err != nil || from != "m@exämple.test" || to[0] != "jörg@exämple.test" || !utf8 {
		t.Errorf("with SMTPUTF8: %s %v %v %v", from, to, utf8, err)
	}
	_, _, _, err = Envelope(false, "m@example.org", []string{"jörg@example.org"})
	var ae *AddressError
	if !errors.As(err, &ae) || ae.From || !errors.Is(err, ErrUTF8LocalPart) {
		t.Errorf("non-ASCII local part without SMTPUTF8: %v", err)
	}
	if _, _, _, err := Envelope(false, "m@-exämple.test", nil); !errors.As(err, &ae) || !ae.From {
		t.Errorf("invalid IDN sender: %v", err)
	}
}
