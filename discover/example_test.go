package discover_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kafkadial/kafkadial/discover"
)

// The rules that reach the brokers of a compose file, in one call.
func ExampleCompose() {
	res, err := discover.Compose(context.Background(), "testdata/compose/apache-three/compose.yaml",
		discover.WithEnviron([]string{"KAFKA_1_PORT=19091", "KAFKA_2_PORT=19092", "KAFKA_3_PORT=19093"}))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.Rules() {
		fmt.Println(r)
	}
	// Output:
	// kafka-1:29092 => 127.0.0.1:19091
	// kafka-2:29092 => 127.0.0.1:19092
	// kafka-3:29092 => 127.0.0.1:19093
}
