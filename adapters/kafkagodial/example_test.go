package kafkagodial_test

import (
	"fmt"

	"github.com/kafkadial/kafkadial/adapters/kafkagodial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/segmentio/kafka-go"
)

func ExampleTransport() {
	d, err := dialer.New(dialer.WithRules("kafka-{id}:29092 => 127.0.0.1:1909{id}"))
	if err != nil {
		panic(err)
	}
	defer d.Close()
	w := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:19091"), Topic: "events", Transport: kafkagodial.Transport(d)}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{"127.0.0.1:19091"}, Topic: "events",
		GroupID: "example", Dialer: kafkagodial.Dialer(d)})
	fmt.Println(w.Transport != nil, r.Config().Dialer.DialFunc != nil)
	w.Close()
	r.Close()
	// Output: true true
}
