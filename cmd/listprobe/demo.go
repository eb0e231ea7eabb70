package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// demo starts the sandbox mail world, writes a configuration for it into a
// temporary directory, and serves it like serve does.
func demo(ctx context.Context, logger *slog.Logger, webFlags *web.FlagConfig, opts *serviceOptions, schedule string, timeout time.Duration, stdout, stderr io.Writer) int {
	if err := checkListen(webFlags); err != nil {
		fmt.Fprintf(stderr, "listprobe demo: %v\n", err)
		return exitFailing
	}
	worldOpts := sandbox.DemoOptions()
	world, err := sandbox.Start(worldOpts)
	if err != nil {
		fmt.Fprintf(stderr, "listprobe demo: starting the mail world: %v\n", err)
		return exitFailing
	}
	defer world.Close()

	dir, err := os.MkdirTemp("", "listprobe-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "listprobe demo: %v\n", err)
		return exitFailing
	}
	defer os.RemoveAll(dir)
	configFile, err := writeDemoConfig(dir, world, worldOpts, schedule, timeout)
	if err != nil {
		fmt.Fprintf(stderr, "listprobe demo: %v\n", err)
		return exitFailing
	}
	addr := (*webFlags.WebListenAddresses)[0]
	host := addr
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	fmt.Fprintf(stdout, "listprobe demo: mail world on SMTP %s and IMAP %s; config %s\n", world.SMTPAddr, world.IMAPAddr, configFile)
	fmt.Fprintf(stdout, "listprobe demo: status page http://%s/ , metrics http://%s/metrics (Ctrl-C stops)\n", host, host)
	// The demo's lists are the sandbox's own: on-demand probes and reloads
	// harm nobody there, so the page's buttons and /probe work.
	opts.Web.EnableProbe, opts.Web.EnableLifecycle = true, true
	// The sandbox's lists have no subscribers to spare: probing them
	// every half minute fills the page quickly.
	opts.Probe.Load = &config.Options{MinInterval: time.Second}
	return serve(ctx, logger, configFile, webFlags, opts, stderr, func(svc *probe.Service) {
		// Probe every list once right away so the page fills in seconds.
		for _, l := range svc.Config().Lists {
			go svc.ProbeNow(ctx, l.Address)
		}
	})
}

// writeDemoConfig writes a config with its secret files for the world.
func writeDemoConfig(dir string, world *sandbox.World, opts sandbox.Options, schedule string, timeout time.Duration) (string, error) {
	key := make([]byte, 32)
	rand.Read(key)
	secret := func(name, value string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(value+"\n"), 0o600)
	}
	keyFile, err := secret("signing.key", hex.EncodeToString(key))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	// The demo world has no DNS (nothing is looked up outside it: the
	// server named is a closed port on loopback) and signs nothing: its
	// list server is known by the Received field its MTA adds.
	fmt.Fprintf(&b, "# Written by listprobe demo for its built-in mail world.\nglobal:\n  schedule: %q\n  timeout: %s\n  signing_key_file: %s\n  poll_interval: 2s\n  dns: { server: \"127.0.0.1:1\" }\n", schedule, timeout, keyFile)
	fmt.Fprintf(&b, "list_servers:\n  demo: { hosts: [127.0.0.1], receiver_hosts: [%s] }\naccounts:\n", world.Hostname())
	names := map[string]string{}
	for _, a := range opts.Accounts {
		name := a.Address[:strings.IndexByte(a.Address, '@')]
		names[a.Address] = name
		pw, err := secret(name+".password", a.Password)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  %s:\n    address: %s\n    cleanup: true\n", name, a.Address)
		fmt.Fprintf(&b, "    smtp: { address: %q, tls: none, auth: plain, username: %s, password_file: %s }\n", world.SMTPAddr, a.Address, pw)
		fmt.Fprintf(&b, "    imap: { address: %q, tls: none, username: %s, password_file: %s }\n", world.IMAPAddr, a.Address, pw)
	}
	restUser, restPass := opts.MailmanUsername, opts.MailmanPassword
	if restUser == "" {
		restUser, restPass = sandbox.DefaultMailmanUsername, sandbox.DefaultMailmanPassword
	}
	restPW, err := secret("mailman.password", restPass)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "mailman:\n  demo: { url: %q, username: %s, password_file: %s, discard_held: true, refresh: 10s }\n", world.MailmanURL, restUser, restPW)
	b.WriteString("lists:\n")
	for _, l := range opts.Lists {
		readers := "    reader: reader\n"
		if len(l.Subscribers) > 1 {
			var rs []string
			for _, s := range l.Subscribers {
				rs = append(rs, names[s])
			}
			readers = "    readers: [" + strings.Join(rs, ", ") + "]\n"
		}
		fmt.Fprintf(&b, "  - address: %s\n    poster: member\n%s    moderator: moderator\n    mailman: demo\n    list_server: demo\n", l.Address, readers)
	}
	p := filepath.Join(dir, "listprobe.yml")
	return p, os.WriteFile(p, []byte(b.String()), 0o600)
}
