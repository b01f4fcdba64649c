package kafkatest_test

import (
	"fmt"

	"github.com/kafkadial/kafkadial/kafkatest"
)

func ExampleStart() {
	c, err := kafkatest.Start(kafkatest.WithBrokers(2), kafkatest.WithTopic("events", 6))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for _, b := range c.Brokers {
		fmt.Println(b.Advertised)
	}
	// Output:
	// kafka-1:29092
	// kafka-2:29092
}

func ExampleStart_badOption() {
	_, err := kafkatest.Start(kafkatest.WithBrokers(0))
	fmt.Println(err)
	// Output:
	// kafkatest: WithBrokers(0): the number of brokers must be from 1 to 64
}
