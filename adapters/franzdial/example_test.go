package franzdial_test

import (
	"fmt"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kgo"
)

func ExampleOpt() {
	d, err := dialer.New(dialer.WithRules("kafka-{id}:29092 => 127.0.0.1:1909{id}"))
	if err != nil {
		panic(err)
	}
	defer d.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:19091"), franzdial.Opt(d))
	fmt.Println(err)
	cl.Close()
	// Output: <nil>
}
