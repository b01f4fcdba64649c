package kafkagodial

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/internal/testnet"
)

func TestTransportAndDialer(t *testing.T) {
	srv := testnet.Listen(t, testnet.Close)
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	d, err := dialer.New(dialer.WithTLS(tc), dialer.WithRules("kafka-2:29092 => "+srv))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tr, kd := Transport(d), Dialer(d)
	if tr.TLS != tc || kd.TLS != tc {
		t.Fatal("the dialer's TLS config is not handed to kafka-go")
	}
	if kd.Resolver != nil {
		t.Fatal("remapping must not go through kafka-go's Resolver")
	}
	for name, dial := range map[string]func(context.Context, string, string) (net.Conn, error){
		"Transport.Dial": tr.Dial, "Dialer.DialFunc": kd.DialFunc,
	} {
		c, err := dial(context.Background(), "tcp", "kafka-2:29092")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := c.(*net.TCPConn); !ok {
			t.Errorf("%s returned %T: kafka-go layers TLS itself, the conn must stay plain", name, c)
		}
		if c.RemoteAddr().String() != srv {
			t.Errorf("%s dialled %s", name, c.RemoteAddr())
		}
		c.Close()
	}
}
