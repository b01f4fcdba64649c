// A user of the published modules: franz-go reaches a kafkatest cluster,
// whose brokers advertise names that do not resolve, through franzdial.
// The release rehearsal builds it in a fresh module outside the repository
// and runs it: exit status 0 when a record went there and back.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "franzdial consumer:", err)
		os.Exit(1)
	}
	fmt.Println("franzdial consumer: ok")
}

func run() error {
	c, err := kafkatest.Start(kafkatest.WithBrokers(2), kafkatest.WithTopic("events", 1))
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := dialer.New(dialer.WithRules(c.Rules()), dialer.WithStrict())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seed()), franzdial.Opt(d),
		kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "events", Value: []byte("hello")}).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	for ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("fetch: %w", errs[0].Err)
		}
		for _, r := range fetches.Records() {
			if string(r.Value) == "hello" {
				return nil
			}
		}
	}
	return errors.New("no record back before the deadline")
}
