package authn

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// The ARC signatures (RFC 8617) are DKIM signatures under other field
// names, which go-msgauth's verifier does not accept. What it does not
// export is here, kept to what ARC needs: the key record (RFC 6376
// section 3.6.1), the header hash (section 3.7) and the signature check.
// The body hash is go-msgauth's own (bodyHash).

// sigError is a verification failure with its RFC 8601 class.
type sigError struct {
	result Result // ResultFail, ResultPermError or ResultTempError
	msg    string
}

func (e *sigError) Error() string { return e.msg }

func sigFail(format string, args ...any) error {
	return &sigError{result: ResultFail, msg: fmt.Sprintf(format, args...)}
}

func sigPermError(format string, args ...any) error {
	return &sigError{result: ResultPermError, msg: fmt.Sprintf(format, args...)}
}

// resultOf classifies a verification error.
func resultOf(err error) Result {
	var se *sigError
	switch {
	case err == nil:
		return ResultPass
	case errors.As(err, &se):
		return se.result
	case isTemporary(err):
		return ResultTempError
	}
	return ResultPermError
}

// publicKey is a DKIM key record's key.
type publicKey struct {
	rsa     *rsa.PublicKey
	ed25519 ed25519.PublicKey
}

// lookupKey fetches and parses the key of selector s in domain d
// (RFC 6376 section 3.6.2.2: exactly one TXT record).
func lookupKey(l *lookups, d, s string) (*publicKey, error) {
	name := s + "._domainkey." + d
	txts, err := l.txt(name)
	if err != nil {
		if isTemporary(err) {
			return nil, &sigError{result: ResultTempError, msg: "key " + name + ": DNS lookup failed: " + err.Error()}
		}
		return nil, sigPermError("no key at %s: %v", name, err)
	}
	if len(txts) != 1 {
		return nil, sigPermError("key %s: %d TXT records, want one", name, len(txts))
	}
	return parseKey(name, txts[0])
}

func parseKey(name, txt string) (*publicKey, error) {
	tags, err := parseTags(txt)
	if err != nil {
		return nil, sigPermError("key %s: %v", name, err)
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, sigPermError("key %s: version %q", name, v)
	}
	if svc, ok := tags["s"]; ok && !contains(tagList(svc), "email") && !contains(tagList(svc), "*") {
		return nil, sigPermError("key %s: not for email", name)
	}
	p, ok := tags["p"]
	if !ok {
		return nil, sigPermError("key %s: no p=", name)
	}
	if p = stripWSP(p); p == "" {
		return nil, sigPermError("key %s revoked (empty p=)", name)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, sigPermError("key %s: p= is not base64", name)
	}
	switch k := tags["k"]; k {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			if pub, err = x509.ParsePKCS1PublicKey(der); err != nil {
				return nil, sigPermError("key %s: %v", name, err)
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, sigPermError("key %s: not an RSA key", name)
		}
		if rk.N.BitLen() < 1024 { // RFC 8301 section 3.2
			return nil, sigPermError("key %s: RSA key of %d bits, under 1024", name, rk.N.BitLen())
		}
		return &publicKey{rsa: rk}, nil
	case "ed25519": // RFC 8463
		if len(der) != ed25519.PublicKeySize {
			return nil, sigPermError("key %s: bad Ed25519 key", name)
		}
		return &publicKey{ed25519: ed25519.PublicKey(der)}, nil
	default:
		return nil, sigPermError("key %s: unknown key type %q", name, k)
	}
}

// verifyHash checks signature b (base64) of the SHA-256 hash of data with
// algorithm a ("rsa-sha256" or "ed25519-sha256").
func (k *publicKey) verify(a string, data []byte, b string) error {
	sig, err := base64.StdEncoding.DecodeString(stripWSP(b))
	if err != nil {
		return sigPermError("b= is not base64")
	}
	sum := sha256.Sum256(data)
	switch {
	case a == "rsa-sha256" && k.rsa != nil:
		if rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig) != nil {
			return sigFail("signature did not verify")
		}
	case a == "ed25519-sha256" && k.ed25519 != nil:
		if !ed25519.Verify(k.ed25519, sum[:], sig) {
			return sigFail("signature did not verify")
		}
	case a == "rsa-sha1":
		return sigPermError("rsa-sha1 is too weak (RFC 8301)")
	default:
		return sigPermError("algorithm %q does not fit the key", a)
	}
	return nil
}

// headerData is what a signature over header fields signs: the fields named
// in h, picked bottom-up and canonicalised, then the signature field itself
// with an empty b= and no final CRLF (RFC 6376 section 3.7).
func headerData(fields []field, h []string, sigRaw string, relaxed bool) []byte {
	var b bytes.Buffer
	p := newPicker(fields)
	for _, name := range h {
		if f, ok := p.pick(name); ok {
			b.WriteString(canonHeader(f.raw, relaxed))
		}
	}
	b.WriteString(strings.TrimSuffix(canonHeader(withoutSignature(sigRaw), relaxed), "\r\n"))
	return b.Bytes()
}

// bodyHash returns the base64 SHA-256 body hash of body under the body
// canonicalisation can, computed by go-msgauth's signer (whose
// canonicalisers are not exported). The signer signs with noSigner, which
// costs nothing.
func bodyHash(body []byte, can dkim.Canonicalization) (string, error) {
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain: "invalid", Selector: "x", Signer: noSigner{},
		BodyCanonicalization: can, HeaderKeys: []string{"From"},
	})
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(s, "From: x\r\n\r\n"); err != nil {
		s.Close()
		return "", err
	}
	if _, err := s.Write(body); err != nil {
		s.Close()
		return "", err
	}
	if err := s.Close(); err != nil {
		return "", err
	}
	_, v, _ := strings.Cut(s.Signature(), ":")
	tags, err := parseTags(strings.ReplaceAll(v, "\r\n", ""))
	if err != nil {
		return "", err
	}
	return stripWSP(tags["bh"]), nil
}

// noSigner is a crypto.Signer that signs nothing, for bodyHash.
type noSigner struct{}

func (noSigner) Public() crypto.PublicKey {
	return ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
}

func (noSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, nil }
