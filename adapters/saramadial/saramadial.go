// Package saramadial plugs a kafkadial Dialer into sarama (github.com/IBM/sarama).
//
//	d, err := dialer.New(dialer.WithRules("kafka-{id}:29092 => 127.0.0.1:1909{id}"))
//	cfg := sarama.NewConfig()
//	saramadial.Configure(cfg, d)
//	client, err := sarama.NewClient([]string{"127.0.0.1:19091"}, cfg)
package saramadial

import (
	"context"
	"net"

	"github.com/IBM/sarama"
	"github.com/kafkadial/kafkadial/dialer"
)

// Configure makes every connection of clients built from cfg go through d.
//
// It sets Net.Proxy.Enable and Net.Proxy.Dialer (sarama's only dial hook;
// Enable with a nil Dialer would crash sarama). sarama stops applying
// Net.DialTimeout once a proxy dialer is set, so the dialer applies it
// itself, read from cfg at each dial, together with d's own timeout.
//
// sarama layers TLS itself on what the dialer returns, verifying the host of
// the address it asked for (the advertised host). So the proxy dialer always
// returns a plain connection, and a TLS config given to d with
// dialer.WithTLS is handed to sarama: Configure sets Net.TLS.Enable and, when
// Net.TLS.Config is nil, Net.TLS.Config. No connection gets TLS twice.
func Configure(cfg *sarama.Config, d *dialer.Dialer) {
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = &proxyDialer{d: d.Plain(), cfg: cfg}
	if tc := d.TLSConfig(); tc != nil {
		cfg.Net.TLS.Enable = true
		if cfg.Net.TLS.Config == nil {
			cfg.Net.TLS.Config = tc
		}
	}
}

// proxyDialer is the golang.org/x/net/proxy.Dialer sarama calls.
type proxyDialer struct {
	d   dialer.ContextDialer
	cfg *sarama.Config
}

func (p *proxyDialer) Dial(network, addr string) (net.Conn, error) {
	return p.DialContext(context.Background(), network, addr)
}

// DialContext makes proxyDialer a golang.org/x/net/proxy.ContextDialer too.
func (p *proxyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if t := p.cfg.Net.DialTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	return p.d.DialContext(ctx, network, addr)
}
