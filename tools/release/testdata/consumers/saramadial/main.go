// A user of the published modules: sarama reaches a kafkatest cluster,
// whose brokers advertise names that do not resolve, through saramadial.
// The release rehearsal builds it in a fresh module outside the repository
// and runs it: exit status 0 when a record went there and back.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/kafkatest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "saramadial consumer:", err)
		os.Exit(1)
	}
	fmt.Println("saramadial consumer: ok")
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
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	saramadial.Configure(cfg, d)
	p, err := sarama.NewSyncProducer([]string{c.Seed()}, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: "events", Value: sarama.StringEncoder("hello")})
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	cons, err := sarama.NewConsumer([]string{c.Seed()}, cfg)
	if err != nil {
		return err
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("events", part, off)
	if err != nil {
		return err
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != "hello" {
			return fmt.Errorf("got %q back", m.Value)
		}
		return nil
	case err := <-pc.Errors():
		return fmt.Errorf("consume: %w", err)
	case <-time.After(time.Minute):
		return fmt.Errorf("no record back within a minute")
	}
}
