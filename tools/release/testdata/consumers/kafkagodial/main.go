// A user of the published modules: kafka-go reaches a kafkatest cluster,
// whose brokers advertise names that do not resolve, through kafkagodial.
// The release rehearsal builds it in a fresh module outside the repository
// and runs it: exit status 0 when a record went there and back.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
	"github.com/segmentio/kafka-go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kafkagodial consumer:", err)
		os.Exit(1)
	}
	fmt.Println("kafkagodial consumer: ok")
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
	w := &kafka.Writer{Addr: kafka.TCP(c.Seed()), Topic: "events", Transport: kafkagodial.Transport(d),
		BatchTimeout: 10 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("hello")}); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	w.Close()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{c.Seed()}, Topic: "events", Partition: 0,
		Dialer: kafkagodial.Dialer(d), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	if string(m.Value) != "hello" {
		return fmt.Errorf("got %q back", m.Value)
	}
	return nil
}
