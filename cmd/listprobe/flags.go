package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"

	"github.com/alecthomas/kingpin/v2"

	"github.com/listprobe/listprobe/probe"
	probeweb "github.com/listprobe/listprobe/probe/web"
)

// serviceOptions are the options of a running service: its runtime's and
// its web UI's.
type serviceOptions struct {
	Probe probe.Options
	Web   probeweb.Options
}

// addServiceFlags adds the flags of a running service (serve, demo) to cmd
// and returns a function that turns their values into serviceOptions.
func addServiceFlags(cmd *kingpin.CmdClause) func() (*serviceOptions, error) {
	enableProbe := cmd.Flag("web.enable-probe", "Serve GET /probe?list=ADDR, which posts a probe to the list's subscribers on request (at most one per list per --web.probe-min-interval).").Bool()
	enableLifecycle := cmd.Flag("web.enable-lifecycle", "Serve POST /-/reload.").Bool()
	minInterval := cmd.Flag("web.probe-min-interval", "Shortest time between two on-demand probes of one list; requests within it get the last result.").Default(probe.DefaultOnDemandMinInterval.String()).Duration()
	maxInFlight := cmd.Flag("probe.max-in-flight", "Most probes in flight at once; more wait their turn.").Default(strconv.Itoa(probe.DefaultMaxInFlight)).Int()
	shardIndex := cmd.Flag("shard.index", "This replica's shard, 0 to --shard.count-1. Default: the ordinal at the end of the host name (a StatefulSet pod's, e.g. listprobe-2).").Default("-1").Int()
	shardCount := cmd.Flag("shard.count", "Number of replicas sharing the lists by a stable hash of the list address; 1 probes every list.").Default("1").Int()
	return func() (*serviceOptions, error) {
		opts := &serviceOptions{
			Probe: probe.Options{OnDemandMinInterval: *minInterval, MaxInFlight: *maxInFlight, ShardCount: *shardCount},
			Web:   probeweb.Options{EnableProbe: *enableProbe, EnableLifecycle: *enableLifecycle, OnDemandMinInterval: *minInterval},
		}
		if *minInterval <= 0 {
			return nil, fmt.Errorf("--web.probe-min-interval must be positive, not %s", *minInterval)
		}
		if *maxInFlight <= 0 {
			return nil, fmt.Errorf("--probe.max-in-flight must be at least 1, not %d", *maxInFlight)
		}
		if *shardCount < 1 {
			return nil, fmt.Errorf("--shard.count must be at least 1, not %d", *shardCount)
		}
		idx := *shardIndex
		if idx < 0 && *shardCount > 1 {
			host, _ := os.Hostname()
			n, ok := hostOrdinal(host)
			if !ok {
				return nil, fmt.Errorf("--shard.count=%d needs --shard.index, or a host name ending in an ordinal such as listprobe-0 (this host is %q)", *shardCount, host)
			}
			idx = n
		}
		if idx < 0 {
			idx = 0
		}
		if idx >= *shardCount {
			return nil, fmt.Errorf("--shard.index=%d is not below --shard.count=%d", idx, *shardCount)
		}
		opts.Probe.ShardIndex = idx
		return opts, nil
	}
}

var ordinalSuffix = regexp.MustCompile(`-(\d+)$`)

// hostOrdinal reads a StatefulSet pod's ordinal from its host name.
func hostOrdinal(host string) (int, bool) {
	m := ordinalSuffix.FindStringSubmatch(host)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}
