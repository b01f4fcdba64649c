// Command kafkadial shows how Kafka brokers are reached through kafkadial
// rules, checks rule files, derives rules from docker-compose files and
// serves the embedded DNS resolver.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `kafkadial: reach Kafka brokers whose advertised addresses you cannot reach

Usage:
  kafkadial probe --bootstrap ADDR [flags]     fetch metadata and explain every broker's route
  kafkadial rules check FILE...                report rule errors and rules that never match
  kafkadial rules explain ADDR...              show the route of each address
  kafkadial rules from-compose [FILE]          derive rules from a docker-compose file
  kafkadial dns serve --zone FILE [flags]      serve the embedded DNS resolver

Run "kafkadial COMMAND --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line; it is main without the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "probe":
		return runProbe(ctx, args[1:], stdout, stderr)
	case "rules":
		return runRules(ctx, args[1:], stdout, stderr)
	case "dns":
		return runDNS(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "kafkadial: unknown command %q\n\n%s", args[0], usage)
	return 2
}
