// Command bastion produces and consumes through brokers that only a bastion
// can reach: the rule sends every broker connection through an SSH hop (or a
// SOCKS5 or HTTP CONNECT proxy), and the bastion resolves and dials the
// broker names that metadata hands out.
//
// With your own bastion, in ~/.ssh/config as you use it with ssh:
//
//	go run ./examples/bastion -seed kafka-1.internal:9092 -rules '*.internal:9092 => = via ssh://bastion'
//
// Without one, scripts/netns-topology.sh builds a private Kafka network
// behind a bastion on this machine (root, Linux network namespaces):
//
//	sudo scripts/netns-topology.sh up /tmp/kd && sudo scripts/netns-topology.sh brokers-start /tmp/kd
//	sudo go run ./examples/bastion -ssh-config /tmp/kd/ssh_config
//	sudo go run ./examples/bastion -ssh-config /tmp/kd/ssh_config -rules 'kafka-{id}:9092 => = via ssh://inner'
//	sudo scripts/netns-topology.sh down /tmp/kd
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	var o options
	flag.StringVar(&o.rules, "rules", "kafka-{id}:9092 => = via ssh://bastion", "kafkadial rules")
	flag.StringVar(&o.seed, "seed", "kafka-1:9092", "bootstrap broker, as the brokers advertise it")
	flag.StringVar(&o.sshConfig, "ssh-config", "", "ssh_config to read instead of ~/.ssh/config")
	flag.StringVar(&o.topic, "topic", "events", "topic to produce to and consume from")
	flag.IntVar(&o.n, "n", 1000, "records to produce and consume")
	flag.BoolVar(&o.verbose, "v", false, "log every dial")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "bastion:", err)
		var hke *dialer.HostKeyError
		if errors.As(err, &hke) {
			fmt.Fprintln(os.Stderr, "The bastion's host key is not trusted; see README \"Reaching brokers through a bastion\".")
		}
		os.Exit(1)
	}
}

type options struct {
	rules, seed, sshConfig, topic string
	n                             int
	verbose                       bool
	getenv                        func(string) string // for tests; nil = the environment
}

func run(ctx context.Context, w io.Writer, o options) error {
	opts := []dialer.Option{dialer.WithNamedRules("-rules", o.rules), dialer.WithStrict()}
	if o.sshConfig != "" {
		opts = append(opts, dialer.WithSSHConfig(o.sshConfig))
	}
	if o.getenv != nil {
		opts = append(opts, dialer.WithGetenv(o.getenv))
	}
	if o.verbose {
		opts = append(opts, dialer.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	d, err := dialer.New(opts...)
	if err != nil {
		return err
	}
	defer d.Close()

	// First, one connection to the seed: the error, if any, says which part
	// of the path failed (rule, bastion, host key, authentication, broker).
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", o.seed)
	if err != nil {
		return err
	}
	c.Close()
	fmt.Fprintf(w, "reached %s in %s\n", o.seed, time.Since(start).Round(time.Millisecond))

	cl, err := kgo.NewClient(kgo.SeedBrokers(o.seed), kgo.DefaultProduceTopic(o.topic),
		kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), franzdial.Opt(d))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	// The route table: every broker metadata names, and how it is reached.
	brokers, err := brokerAddrs(ctx, cl)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-16s %-16s %-10s %s\n", "ADVERTISED", "TARGET", "RULE", "VIA")
	for _, a := range brokers {
		rt, err := d.Route(a)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-16s %-16s %-10s %s\n", rt.Addr, rt.Target, rt.Rule, rt.Via)
	}

	// Consume from the end, then produce: the records read are ours.
	poll(ctx, cl) // joins the partitions at their current end
	rs := make([]*kgo.Record, o.n)
	for i := range rs {
		rs[i] = kgo.StringRecord(fmt.Sprintf("bastion-%d", i))
	}
	start = time.Now()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	fmt.Fprintf(w, "produced %d records through the hop in %s\n", o.n, time.Since(start).Round(time.Millisecond))
	seen := map[string]bool{}
	for len(seen) < o.n && ctx.Err() == nil {
		poll(ctx, cl).EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for i := 0; i < o.n; i++ {
		if !seen[fmt.Sprintf("bastion-%d", i)] {
			return fmt.Errorf("consumed %d of %d records; bastion-%d is missing", len(seen), o.n, i)
		}
	}
	fmt.Fprintf(w, "consumed %d records through the hop\n", len(seen))
	return nil
}

// poll fetches for up to two seconds.
func poll(ctx context.Context, cl *kgo.Client) kgo.Fetches {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cl.PollFetches(ctx)
}

// brokerAddrs asks the cluster for its brokers' advertised addresses.
func brokerAddrs(ctx context.Context, cl *kgo.Client) ([]string, error) {
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, b := range resp.Brokers {
		addrs = append(addrs, net.JoinHostPort(b.Host, fmt.Sprint(b.Port)))
	}
	return addrs, nil
}
