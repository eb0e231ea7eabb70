package authn_test

import (
	"context"
	"fmt"
	"time"

	"github.com/listprobe/listprobe/checks/authn"
)

// A hold notice that the receiving server mx.example.org took in from the
// list server's address: authenticated by the Received path, though it
// carries no signature.
func ExampleVerify() {
	raw := "Received: from lists.example.test (lists.example.test [192.0.2.10])\r\n" +
		"\tby mx.example.org (Postfix) with ESMTPS id 4F2; Sat, 06 Dec 2025 10:00:01 +0000\r\n" +
		"From: list-bounces@lists.example.test\r\n" +
		"Subject: Your message awaits moderator approval\r\n" +
		"\r\n" +
		"held\r\n"
	r, err := authn.NewResolver(authn.ResolverOptions{Server: "127.0.0.1:1", Timeout: 100 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	v := authn.Verify(context.Background(), authn.SplitMessage([]byte(raw)), &authn.Options{
		ListDomain:  "lists.example.test",
		AuthServIDs: []string{"mx.example.org"},
		ListHosts:   []string{"192.0.2.10"},
		Resolver:    r,
	})
	fmt.Println(v.Authenticated, v.Path)
	fmt.Println(v.Reason)
	fmt.Println(v.Checks.DKIM.Result, v.Checks.DMARC.Result)
	// Output:
	// true received
	// Received by mx.example.org from the list server lists.example.test [192.0.2.10]
	// none temperror
}
