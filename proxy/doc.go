// Package proxy is a Kafka proxy that rewrites the broker addresses in
// the responses it passes on, so that any client — kcat, Java, Python,
// JavaScript, GUIs — reaches brokers it could not reach itself, through
// a kafkadial dialer (rules, resolvers, Docker, SSH, SOCKS5, HTTP
// CONNECT, Kubernetes) or any other ContextDialer.
//
//	d, err := dialer.New(dialer.WithRules(`kafka-{id}.kafka.svc:9092 => k8s://prod`))
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer d.Close()
//	p, err := proxy.New("kafka-0.kafka.svc:9092", d) // listens on 127.0.0.1:9092
//	if err != nil {
//		log.Fatal(err)
//	}
//	// Clients bootstrap from 127.0.0.1:9092; node N is at 127.0.0.1:9093+N.
//	log.Fatal(p.Serve(ctx)) // until ctx ends
//
// TODO: full package documentation.
package proxy
