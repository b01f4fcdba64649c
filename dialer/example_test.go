package dialer_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kafkadial/kafkadial/dialer"
)

// Rules remap the addresses brokers advertise; Route shows where a dial goes
// without dialling.
func ExampleDialer_Route() {
	d, err := dialer.New(dialer.WithRules(`
		kafka-{id}:29092      => 127.0.0.1:1909{id}   # docker-compose brokers
		*.kafka.internal:9092 => 127.0.0.1:{port+1000}
	`))
	if err != nil {
		panic(err)
	}
	defer d.Close()
	for _, addr := range []string{"kafka-3:29092", "b-1.kafka.internal:9092", "localhost:9092"} {
		r, _ := d.Route(addr)
		fmt.Printf("%s -> %s (rule %q, TLS name %s)\n", r.Addr, r.Target, r.Rule, r.ServerName)
	}
	// Output:
	// kafka-3:29092 -> 127.0.0.1:19093 (rule "rules:2", TLS name kafka-3)
	// b-1.kafka.internal:9092 -> 127.0.0.1:10092 (rule "rules:3", TLS name b-1.kafka.internal)
	// localhost:9092 -> localhost:9092 (rule "", TLS name localhost)
}

// A mistake in the rules is reported with its position.
func ExampleRuleError() {
	_, err := dialer.New(dialer.WithNamedRules("rules.txt", "kafka-1:29092 => 127.0.0.1:1909{id}"))
	var re *dialer.RuleError
	if errors.As(err, &re) {
		fmt.Println(re.Source, re.Line, re.Col)
		fmt.Println(err)
	}
	// Output:
	// rules.txt 1 32
	// rules.txt:1:32: {id} is not captured by the match (known: {host}, {port})
}

// WithStrict fails closed: an address no rule names is refused.
func ExampleWithStrict() {
	d, _ := dialer.New(dialer.WithStrict(), dialer.WithRules("kafka-1:29092 => 127.0.0.1:19091"))
	defer d.Close()
	_, err := d.Dial("tcp", "kafka-9:29092")
	fmt.Println(errors.Is(err, dialer.ErrNoRoute))
	fmt.Println(err)
	// Output:
	// true
	// dial tcp kafka-9:29092: no kafkadial rule matches (strict mode)
}

// The same dialer serves HTTP clients, for Schema Registry or an OAuth
// endpoint that also advertises internal names.
func ExampleDialer_DialContext_http() {
	d, _ := dialer.New(dialer.WithRules("schema-registry:8081 => 127.0.0.1:18081"))
	defer d.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	_ = client // client.Get("http://schema-registry:8081/subjects")
	r, _ := d.Route("schema-registry:8081")
	fmt.Println(r.Target)
	// Output: 127.0.0.1:18081
}
