// Package kafkagodial plugs a kafkadial Dialer into kafka-go (github.com/segmentio/kafka-go).
//
//	d, err := dialer.New(dialer.WithRules("kafka-{id}:29092 => 127.0.0.1:1909{id}"))
//	w := &kafka.Writer{Addr: kafka.TCP("127.0.0.1:19091"), Topic: "events", Transport: kafkagodial.Transport(d)}
//	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{"127.0.0.1:19091"}, Topic: "events", Dialer: kafkagodial.Dialer(d)})
//
// The remapping happens in Transport.Dial and Dialer.DialFunc, which receive
// the advertised host:port. It never goes through kafka-go's Resolver, which
// sees the host only (it cannot change a port) and moves the TLS name to the
// resolved address.
package kafkagodial

import (
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/segmentio/kafka-go"
)

// Transport returns a kafka-go Transport (for Writer and Client) whose
// connections go through d. A TLS config given to d with dialer.WithTLS is
// set as Transport.TLS, and kafka-go verifies it against the advertised host;
// the connection d returns is plain, so no connection gets TLS twice.
//
// Writers must use the Transport: kafka.NewWriter(WriterConfig{Dialer: ...})
// drops DialFunc.
func Transport(d *dialer.Dialer) *kafka.Transport {
	return &kafka.Transport{
		Dial: d.Plain().DialContext,
		TLS:  d.TLSConfig(),
	}
}

// Dialer returns a kafka-go Dialer (for Reader, ConsumerGroup and Conn)
// whose connections go through d, with d's TLS config, as Transport does.
func Dialer(d *dialer.Dialer) *kafka.Dialer {
	return &kafka.Dialer{
		DialFunc: d.Plain().DialContext,
		TLS:      d.TLSConfig(),
	}
}
