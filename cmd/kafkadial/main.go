// Command kafkadial shows how Kafka brokers are reached through kafkadial
// rules, checks rule files, derives rules from docker-compose files, serves
// the embedded DNS resolver and serves the brokers to any Kafka client
// through a local proxy.
//
//	kafkadial probe --bootstrap 127.0.0.1:9092 --rules kafka.rules
//	kafkadial proxy --bootstrap kafka-0.kafka:9092 --rules kafka.rules
//	kafkadial rules check kafka.rules
//	kafkadial rules explain kafka-1:29092 kafka-2:29092
//	kafkadial rules from-compose docker-compose.yml > kafka.rules
//
// Results go to standard output, progress and errors to standard error.
// Exit status: 0 when all is well, 1 when the command found a problem (a
// broker that does not answer, a rule that never matches, ...), 2 for a
// usage or configuration error.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
)

const usage = `kafkadial: reach Kafka brokers whose advertised addresses you cannot reach

Usage:
  kafkadial probe --bootstrap ADDR [flags]     fetch metadata and explain every broker's route
  kafkadial proxy --bootstrap ADDR [flags]     serve the brokers to any client on local ports
  kafkadial rules check FILE...                report rule errors and rules that never match
  kafkadial rules explain ADDR...              show the route of each address
  kafkadial rules from-compose [FILE]          derive rules from a docker-compose file
  kafkadial rules from-docker [NAME...]        derive rules from the containers a Docker engine runs
  kafkadial dns serve --zone FILE [flags]      serve the embedded DNS resolver
  kafkadial dns serve --docker [flags]         serve containers' names and addresses by DNS
  kafkadial version                            print the module version and the Go version

Rules come from --rules FILE (where a command takes it), then from the
environment: KAFKADIAL_RULES (rule text) and KAFKADIAL_RULES_FILE (a path).
With --docker, probe, proxy and rules explain ask the Docker engine about every
address no rule matches.

Run "kafkadial COMMAND --help" for a command's flags.
`

// Exit codes.
const (
	exitOK      = 0
	exitProblem = 1 // the command ran and found a problem
	exitUsage   = 2 // bad flags, unreadable or invalid configuration
)

func main() {
	// compose-go warns (an unset variable, an obsolete "version:") through
	// logrus on stderr; say it the way the rest of the command speaks.
	logrus.SetFormatter(logFormat{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line; it is main without the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{
		stdout:  stdout,
		stderr:  stderr,
		getenv:  os.Getenv,
		environ: os.Environ,
		tty:     isTerminal(stderr),
	}
	return c.run(ctx, args)
}

// cli is what a command takes from the process it runs in. Tests build one
// to control the environment and the resolver.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string
	// resolver answers the probe's name lookups; nil is the system's.
	resolver *net.Resolver
	// tty: stderr is a terminal, so progress can rewrite one line.
	tty bool
	// sighup, when not nil, stands for SIGHUP in proxy (tests); nil
	// catches the process's own.
	sighup <-chan os.Signal
}

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "probe":
		return c.probe(ctx, args[1:])
	case "proxy":
		return c.proxy(ctx, args[1:])
	case "rules":
		return c.rules(ctx, args[1:])
	case "dns":
		return runDNS(ctx, args[1:], c.stdout, c.stderr)
	case "version", "-version", "--version":
		return c.version(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, usage)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "kafkadial: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// errorf prints an error line on stderr.
func (c *cli) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "kafkadial: "+format+"\n", args...)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type logFormat struct{}

func (logFormat) Format(e *logrus.Entry) ([]byte, error) {
	return fmt.Appendf(nil, "kafkadial: compose: %s: %s\n", e.Level, e.Message), nil
}
