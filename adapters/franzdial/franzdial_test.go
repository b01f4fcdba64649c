package franzdial_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testnet"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The dialer's failures reach franz-go as dial *net.OpErrors naming the
// advertised address, which franz-go treats as retriable dial errors.
func TestOptDialsThroughDialer(t *testing.T) {
	down := testnet.ClosedAddr(t)
	d, err := dialer.New(dialer.WithStrict(), dialer.WithRules("seed-1:9092 => "+down))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var seen error
	cl, err := kgo.NewClient(kgo.SeedBrokers("seed-1:9092"), franzdial.Opt(d),
		kgo.WithHooks(hook(func(err error) {
			if seen == nil {
				seen = err
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err == nil {
		t.Fatal("ping reached a closed port")
	}
	var oe *net.OpError
	if !errors.As(seen, &oe) || oe.Op != "dial" || oe.Addr.String() != "seed-1:9092" {
		t.Fatalf("franz-go saw %v, want a dial *net.OpError for seed-1:9092", seen)
	}
}

type hook func(error)

func (h hook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h(err)
	}
}
