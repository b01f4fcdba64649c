package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kafkadial/kafkadial/resolver"
)

const dnsUsage = `Usage:
  kafkadial dns serve --zone FILE [--forward SUFFIX=SERVER]... [--listen 127.0.0.1:5353]

Serves the embedded DNS resolver over UDP and TCP, so that tools that are not
Go (kcat, Java clients, web UIs) get the same broker addresses as the dialer.
Point them at it with a resolv.conf "nameserver" line (port 53), or with the
tool's own DNS setting.
`

const dnsServeUsage = `Usage:
  kafkadial dns serve --zone FILE [--forward SUFFIX=SERVER]... [--listen 127.0.0.1:5353]
  kafkadial dns serve --docker [--zone FILE]... [--listen 127.0.0.1:5353]

With --docker, names of the Docker engine's containers (names, aliases,
hostnames, compose services) are answered first, with their addresses on
each network (A, AAAA; TTL 5s), as long as this host reaches container
addresses (a rootful engine on this Linux host). Other names go on to the
zone files and forwards, or are refused.

Answers from the zone files (RFC 1035 text: A, AAAA, CNAME, SRV, ...; an SRV
record at _PORT._tcp.HOST says where HOST:PORT really is), forwards names under
each SUFFIX to its SERVER, and refuses everything else. Listens on loopback
only unless --allow-non-loopback is given. Ctrl-C stops it.

Example zone file:
  kafka-1               A    127.0.0.1
  _29092._tcp.kafka-2   SRV  0 0 19092 kafka-1
`

func runDNS(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, dnsUsage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return dnsServe(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, dnsUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "kafkadial dns: unknown command %q\n\n%s", args[0], dnsUsage)
	return exitUsage
}

func dnsServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("kafkadial dns serve", dnsServeUsage, stderr)
	var zones, forwards, search stringList
	fs.Var(&zones, "zone", "serve the records of zone `FILE` (repeatable)")
	fs.Var(&forwards, "forward", "`SUFFIX=SERVER`: send questions about names under SUFFIX to SERVER, an IP with an optional\nport (repeatable; SUFFIX \".\" covers every other name and makes this a recursive resolver)")
	fs.Var(&search, "search", "try `DOMAIN` after names without a dot (repeatable)")
	listen := fs.String("listen", "127.0.0.1:5353", "serve UDP and TCP on `ADDR`")
	nonLoopback := fs.Bool("allow-non-loopback", false, "allow a --listen address that is not loopback")
	timeout := fs.Duration("timeout", resolver.DefaultTimeout, "bound on each lookup (every question and forward server it asks), as resolver.WithTimeout")
	verbose := fs.Bool("v", false, "log every query answered")
	var df dockerFlags
	df.register(fs)
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
	}
	pos, code, ok := parseFlags(fs, args, stdout)
	if !ok {
		return code
	}
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "kafkadial dns serve: "+format+"\n", args...)
		return code
	}
	if len(pos) > 0 {
		return fail(exitUsage, "unexpected argument %q (see --help)", pos[0])
	}
	if len(zones) == 0 && len(forwards) == 0 && !df.enabled() {
		return fail(exitUsage, "nothing to serve: give --zone FILE, --forward SUFFIX=SERVER and/or --docker")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	opts := []resolver.Option{
		resolver.WithTimeout(*timeout),
		resolver.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))),
	}
	for _, z := range zones {
		opts = append(opts, resolver.WithZoneFile(z))
	}
	for _, f := range forwards {
		suffix, server, ok := strings.Cut(f, "=")
		if !ok || suffix == "" || server == "" {
			return fail(exitUsage, "--forward %q: want SUFFIX=SERVER, e.g. kafka.internal.=127.0.0.1:5300", f)
		}
		opts = append(opts, resolver.WithForward(suffix, server))
	}
	if len(search) > 0 {
		opts = append(opts, resolver.WithSearch(search...))
	}
	if *nonLoopback {
		opts = append(opts, resolver.WithNonLoopback())
	}
	if *timeout <= 0 {
		return fail(exitUsage, "--timeout must be positive")
	}
	var r *resolver.Resolver
	if len(zones) > 0 || len(forwards) > 0 || !df.enabled() {
		var err error
		if r, err = resolver.New(opts...); err != nil {
			return fail(exitUsage, "%v", err)
		}
	}
	what := strings.Join(zones, ", ")
	if len(forwards) > 0 {
		if what != "" {
			what += "; "
		}
		what += "forwarding " + strings.Join(forwards, ", ")
	}
	if df.enabled() {
		return dnsServeDocker(ctx, &df, r, what, *listen, *nonLoopback, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), stderr)
	}
	s, err := r.Listen(*listen)
	if err != nil {
		return fail(exitProblem, "%v", err)
	}
	fmt.Fprintf(stderr, "kafkadial dns serve: serving %s on %s (UDP and TCP); Ctrl-C stops\n", what, s.Addr())
	start := time.Now()
	if err := s.Serve(ctx); err != nil {
		return fail(exitProblem, "%v", err)
	}
	fmt.Fprintf(stderr, "kafkadial dns serve: stopped after %s\n", time.Since(start).Round(time.Second))
	return exitOK
}
