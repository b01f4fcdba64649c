package saramadial_test

import (
	"fmt"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/adapters/saramadial"
	"github.com/kafkadial/kafkadial/dialer"
)

func ExampleConfigure() {
	d, err := dialer.New(dialer.WithRules("kafka-{id}:29092 => 127.0.0.1:1909{id}"))
	if err != nil {
		panic(err)
	}
	defer d.Close()
	cfg := sarama.NewConfig()
	saramadial.Configure(cfg, d)
	fmt.Println(cfg.Net.Proxy.Enable, cfg.Validate())
	// sarama.NewSyncProducer([]string{"127.0.0.1:19091"}, cfg) now reaches
	// every broker that advertises kafka-N:29092.
	// Output: true <nil>
}
