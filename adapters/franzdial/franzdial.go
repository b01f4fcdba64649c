// Package franzdial plugs a kafkadial Dialer into franz-go (github.com/twmb/franz-go/pkg/kgo).
//
//	d, err := dialer.New(dialer.WithRules("kafka-{id}:29092 => 127.0.0.1:1909{id}"))
//	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:19091"), franzdial.Opt(d))
package franzdial

import (
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Opt returns the kgo.Dialer option that routes every broker connection
// through d.
//
// franz-go hands a custom dialer the advertised host:port and applies
// neither kgo.DialTimeout nor kgo.DialTLSConfig to it (NewClient refuses
// DialTLSConfig together with a dialer). So TLS belongs on d
// (dialer.WithTLS), which verifies the advertised host, and the timeout is
// d's (dialer.WithTimeout, 10s by default). Failed dials are *net.OpError
// with Op "dial", which franz-go retries or moves past to the next broker.
func Opt(d *dialer.Dialer) kgo.Opt {
	return kgo.Dialer(d.DialContext)
}
