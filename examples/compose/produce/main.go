// Command produce writes and reads back one record through the cluster of
// examples/compose, dialling through the rules in KAFKADIAL_RULES or
// KAFKADIAL_RULES_FILE.
//
//	docker compose -f examples/compose/compose.yaml up -d
//	KAFKADIAL_RULES_FILE=examples/compose/rules.txt go run ./examples/compose/produce
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	seed := flag.String("bootstrap", "127.0.0.1:19091", "a published broker address")
	topic := flag.String("topic", "kafkadial-compose", "topic to write to")
	flag.Parse()
	if err := run(*seed, *topic); err != nil {
		fmt.Fprintln(os.Stderr, "produce:", err)
		os.Exit(1)
	}
}

func run(seed, topic string) error {
	d, err := dialer.New(dialer.WithEnv())
	if err != nil {
		return err
	}
	defer d.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), franzdial.Opt(d), kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(), kgo.ConsumeTopics(topic))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := kgo.StringRecord(fmt.Sprintf("hello at %s", time.Now().Format(time.RFC3339)))
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return err
	}
	fmt.Printf("produced to %s partition %d offset %d\n", topic, r.Partition, r.Offset)
	return nil
}
