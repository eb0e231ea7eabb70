// Command listprobe proves, end to end and continuously, that mailing lists
// deliver: it posts signed test messages as a list member, reads the list's
// copies back as a subscriber, and exports what became of each probe as
// Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
	probeweb "github.com/listprobe/listprobe/probe/web"
)

// DefaultListenAddress is where serve and demo listen unless told otherwise.
const DefaultListenAddress = ":9781"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes of once, check-config and explain.
const (
	exitOK      = 0
	exitFailing = 1 // once: some list's outcome is not the expected one
	exitUsage   = 2
	exitBlind   = 3 // once: listprobe could not observe (an error outcome), and no list failed
)

// run is the whole program, with its arguments and output streams, so that
// tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Log lines and once's progress line share stderr without running into
	// each other; nothing printed reaches a terminal with its control
	// characters.
	stderr = &controlEscaper{w: &statusWriter{w: stderr}}
	stdout = &controlEscaper{w: stdout}
	app := kingpin.New("listprobe", "Proves that mailing lists deliver: posts signed probes as a member, reads the copies back as a subscriber, and exports the outcomes as Prometheus metrics.")
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	helped := false
	app.Terminate(func(int) { helped = true })
	app.HelpFlag.Short('h')
	logConfig := &promslog.Config{Writer: stderr}
	promslogflag.AddFlags(app, logConfig)
	logLevelGiven := false
	app.GetFlag(promslogflag.LevelFlagName).IsSetByUser(&logLevelGiven)
	serveCmd := app.Command("serve", "Run every list's probe on its schedule and serve metrics and a status page.")
	serveConfig := serveCmd.Flag("config.file", "listprobe configuration file.").Required().String()
	serveWeb := kingpinflag.AddFlags(serveCmd, DefaultListenAddress)
	serveOpts := addServiceFlags(serveCmd)
	onceCmd := app.Command("once", "Probe the lists now, wait for each outcome and print them; exit 1 if any outcome is not the expected one.")
	onceConfig := onceCmd.Flag("config.file", "listprobe configuration file.").Required().String()
	onceLists := onceCmd.Flag("list", "Probe only this list (its posting address). Repeatable; default: every list.").Strings()
	onceOutput := onceCmd.Flag("output", "Output format: text or json.").Default("text").Enum("text", "json")
	checkCmd := app.Command("check-config", "Validate a configuration file and explain its errors.")
	checkConfig := checkCmd.Flag("config.file", "listprobe configuration file.").Required().String()
	checkSecrets := checkCmd.Flag("config.check-secrets", "Read and check the secrets the config names (files and environment variables). --config.check-secrets=false checks everything else, for a config whose secrets exist only where the service runs, such as systemd credentials.").Default("true").Enum("true", "false")
	explainCmd := app.Command("explain", "Say what listprobe makes of saved messages (.eml): probe copy, hold notice, moderator notice, rejection, bounce, notice-limit warning or unrelated.")
	explainConfig := explainCmd.Flag("config.file", "listprobe configuration file, for the signing key that verifies probe tokens.").String()
	explainOutput := explainCmd.Flag("output", "Output format: text or json.").Default("text").Enum("text", "json")
	explainFiles := explainCmd.Arg("file", "Saved messages.").Required().Strings()
	demoCmd := app.Command("demo", "Start a built-in mail world on loopback (lists that deliver, hold, reject, drop and lag) and run serve against it.")
	demoWeb := kingpinflag.AddFlags(demoCmd, "127.0.0.1:9781")
	demoOpts := addServiceFlags(demoCmd)
	demoSchedule := demoCmd.Flag("demo.schedule", "Schedule of the demo's probes.").Default("@every 30s").String()
	demoTimeout := demoCmd.Flag("demo.timeout", "Timeout of the demo's probes.").Default("20s").Duration()
	versionCmd := app.Command("version", "Print version information.")

	cmd, err := app.Parse(args)
	if helped && askedForHelp(args) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "listprobe: %v (see --help)\n", err)
		return exitUsage
	}
	if cmd == "" {
		return exitOK
	}
	logger := promslog.New(logConfig)
	if cmd == onceCmd.FullCommand() && !logLevelGiven && !isTerminal(stderr) {
		logger = onceQuietLogger(logConfig) // in a pipe or a log, the results are once's output
	}
	switch cmd {
	case serveCmd.FullCommand():
		opts, err := serveOpts()
		if err != nil {
			fmt.Fprintf(stderr, "listprobe: %v\n", err)
			return exitUsage
		}
		return serve(ctx, logger, *serveConfig, serveWeb, opts, stderr, nil)
	case onceCmd.FullCommand():
		return once(ctx, logger, *onceConfig, *onceLists, *onceOutput, stdout, stderr)
	case checkCmd.FullCommand():
		return checkConfigFile(*checkConfig, *checkSecrets == "true", stdout, stderr)
	case explainCmd.FullCommand():
		return explain(*explainConfig, *explainFiles, *explainOutput, stdout, stderr)
	case demoCmd.FullCommand():
		opts, err := demoOpts()
		if err != nil {
			fmt.Fprintf(stderr, "listprobe: %v\n", err)
			return exitUsage
		}
		return demo(ctx, logger, demoWeb, opts, *demoSchedule, *demoTimeout, stdout, stderr)
	case versionCmd.FullCommand():
		return printVersion(stdout)
	}
	return exitUsage
}

// serve runs the service until ctx ends or SIGINT/SIGTERM; SIGHUP reloads.
// started, when not nil, is called once the configuration is loaded.
func serve(ctx context.Context, logger *slog.Logger, configFile string, webFlags *web.FlagConfig, opts *serviceOptions, stderr io.Writer, started func(*probe.Service)) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := config.LoadFile(configFile, opts.Probe.Load); err != nil {
		fmt.Fprintf(stderr, "listprobe: invalid configuration:\n%v\n", err)
		return exitUsage
	}
	if err := checkListen(webFlags); err != nil {
		fmt.Fprintf(stderr, "listprobe: %v\n", err)
		return exitFailing
	}
	svc := probe.NewService(configFile, logger, &opts.Probe)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	srv := newWebServer(probeweb.Handler(svc, &opts.Web), defaultWebTimeouts)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		errc <- svc.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := web.ListenAndServe(srv, webFlags, logger); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("web server: %w", err)
		}
	}()
	if started != nil {
		go func() {
			for !svc.Ready() && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			if ctx.Err() == nil {
				started(svc)
			}
		}()
	}
	code := exitOK
loop:
	for {
		select {
		case <-hup:
			logger.Info("SIGHUP: reloading the configuration")
			if err := svc.Reload(ctx); err != nil {
				logger.Error("reload failed", "err", err)
			}
		case err := <-errc:
			if err != nil {
				logger.Error("listprobe stops", "err", err)
				code = exitFailing
			}
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	wg.Wait()
	return code
}

// checkListen tries the listen addresses before anything starts, so that a
// busy port is the first thing said, with the flag that changes it. (The
// web server opens them again; systemd sockets and vsock are left to it.)
func checkListen(webFlags *web.FlagConfig) error {
	if webFlags.WebSystemdSocket != nil && *webFlags.WebSystemdSocket {
		return nil
	}
	for _, addr := range *webFlags.WebListenAddresses {
		if strings.HasPrefix(addr, "vsock://") {
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w; choose another address with --web.listen-address, e.g. --web.listen-address=127.0.0.1:9782", addr, errors.Unwrap(err))
		}
		l.Close()
	}
	return nil
}

// checkConfigFile prints every problem of the config at once, one per line
// in line order, and the settings that weaken security as warnings, which
// do not make it invalid.
func checkConfigFile(file string, checkSecrets bool, stdout, stderr io.Writer) int {
	cfg, err := config.LoadFile(file, &config.Options{SkipSecrets: !checkSecrets})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		if errs, ok := errors.AsType[config.ConfigErrors](err); ok && len(errs) > 1 {
			fmt.Fprintf(stderr, "%s: %d errors\n", file, len(errs))
		}
		return exitUsage
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "%s:%d: warning: %s: %s\n", w.File, w.Line, w.Field, w.Msg)
	}
	skipped := ""
	if !checkSecrets {
		skipped = " (secrets not read: --config.check-secrets=false)"
	}
	fmt.Fprintf(stdout, "%s: valid: %d lists, %d accounts%s\n", file, len(cfg.Lists), len(cfg.Accounts), skipped)
	printEvidencePaths(stdout, cfg)
	return exitOK
}

// askedForHelp reports whether the arguments ask for help, as opposed to
// kingpin showing the usage because no command was given.
func askedForHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || strings.HasPrefix(a, "--help") {
			return true
		}
	}
	return false
}
