package hop_test

import (
	"fmt"
	"net"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/hop"
)

// A scheme of your own, registered on one dialer: rules then name hops as
// "via corp://gateway". The Builder is called once per distinct chain while
// the dialer is built; the hop is a plain ContextDialer.
func ExampleBuilderFunc() {
	corp := hop.BuilderFunc(func(req hop.Request) (hop.ContextDialer, error) {
		fmt.Printf("building %s (first hop: %v)\n", req.URL.Host, req.First())
		return &net.Dialer{}, nil // a real scheme would tunnel through req.URL, reached via req.Forward
	})
	d, err := dialer.New(
		dialer.WithScheme("corp", corp),
		dialer.WithRules(`
*.kafka.corp:9092 => = via corp://gw-1
*.other.corp:9092 => = via corp://gw-1`),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	rt, _ := d.Route("b-1.kafka.corp:9092")
	fmt.Println(rt.Target, "via", rt.Via)
	// Output:
	// building gw-1 (first hop: true)
	// b-1.kafka.corp:9092 via corp://gw-1
}

func ExampleMask() {
	fmt.Println(hop.Mask("http://user:secret@proxy:3128"))
	// Output: http://user:***@proxy:3128
}
