// Package proxy is a Kafka proxy that rewrites the broker addresses in the
// responses it passes on, so that any client — kcat, Java, Python,
// JavaScript, GUIs — reaches brokers it could not reach itself, through a
// kafkadial dialer (rules, resolvers, Docker, SSH, SOCKS5, HTTP CONNECT,
// Kubernetes) or any other ContextDialer.
//
//	// Every broker behind an SSH bastion (ssh_config, known_hosts, agent):
//	d, err := dialer.New(dialer.WithRules(`*.kafka.internal:9092 => = via ssh://bastion`))
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer d.Close()
//	p, err := proxy.New("kafka-0.kafka.internal:9092", d) // listens on 127.0.0.1:9092
//	if err != nil {
//		log.Fatal(err)
//	}
//	// Clients bootstrap from 127.0.0.1:9092; node N is at 127.0.0.1:9093+N.
//	if err := p.Serve(ctx); err != nil { // until ctx ends
//		log.Fatal(err) // a *proxy.ListenError names the node and port
//	}
//
// # Listeners and ports
//
// The proxy holds a bootstrap listener (WithListen, default
// 127.0.0.1:9092) and one listener per broker on the same host, at port
// base+N for node id N, where base is WithPortBase or the bootstrap port
// plus one. So the same flags give every broker the same port after a
// restart and on every machine, and clients that cache brokers by node id
// (as most do) find them again. Start asks the bootstrap broker for
// metadata and opens a listener for every broker before it returns; a
// broker that appears later (a metadata refresh, a node added) gets its
// listener before the response that names it is passed on. A port that is
// taken is an error (*ListenError) at Start and a log line later — never a
// silently different port. A node that leaves keeps its listener and its
// address. With listen port 0 the system picks every port: for tests.
//
// # What is rewritten
//
// Every response that carries a broker's host and port, in every version
// the proxy offers: Metadata (brokers); FindCoordinator (v0–3 the
// coordinator, v4+ each of Coordinators; node -1, "not available", is
// passed on untouched); DescribeCluster (brokers, and the controllers when
// the bootstrap address is a controller's: they are nodes like any other);
// Produce and Fetch NodeEndpoints (KIP-951, found by walking the response
// by lengths to its top-level tagged fields — records are never decoded;
// see "Fetch responses" below); ShareFetch and ShareAcknowledge
// NodeEndpoints (KIP-932). Each address becomes that node's listener. Everything else passes byte for byte,
// unknown tagged fields included. DescribeQuorum's controller listeners
// (shown by admin tools, never dialled by clients) are passed on as they
// are.
//
// ApiVersions is answered with what both the proxy and the broker support:
// for each key whose responses are rewritten the range is capped at the
// highest version github.com/twmb/franz-go/pkg/kmsg reads, and no lower;
// other keys are as the broker says. A client that asks for a rewritten
// key at a version the proxy cannot read (having skipped ApiVersions) is
// closed with a log line; an ApiVersions request newer than the proxy
// reads is answered UNSUPPORTED_VERSION, as a broker does, so the client
// retries lower.
//
// # Connections
//
// Each client connection gets its own upstream connection, dialled
// through the ContextDialer to the address the broker of its listener
// advertised last (the bootstrap address for the bootstrap listener),
// bounded by WithTimeout. Requests are read only as far as their header
// (and a Produce's acks: acks=0 gets no response); bodies are copied
// without being read, spliced by the kernel when both ends are TCP. Any
// number of requests may be in flight on a connection; responses are
// matched to them in order. SASL (PLAIN, SCRAM, OAUTHBEARER, KIP-368
// re-authentication) and throttling pass through as ordinary frames; the
// unframed tokens of SaslHandshake v0 are not supported.
//
// TLS to the brokers is the dialer's (dialer.WithTLS: verified against the
// advertised name); WithTLS serves TLS to clients, with a certificate that
// must name the proxy's address.
//
// # Fetch responses
//
// A Fetch response (v12 and later, whose top-level tagged fields may hold
// NodeEndpoints) is passed on as it arrives, never held whole: its size
// goes to the client first, unchanged; the proxy reads the structure
// around the records through a small window (16 KiB, never past the
// frame), writes it on, and copies each partition's records from the
// broker's connection to the client's without reading them (spliced by
// the kernel when both are TCP). Only the top-level tagged fields at the
// end are read whole. Without NodeEndpoints (tag 0) the response passes
// byte for byte. With them, each broker's address becomes its listener,
// and the tagged fields are re-encoded to exactly their former length, as
// the size already sent requires:
//
//   - shorter by enough for one more field (2 bytes; 3 when the field
//     count or the tag number needs a longer varint): the proxy adds an
//     unknown tagged field, its tag above every tag present, its data
//     zeros, that fills the gap. Clients skip tags they do not know
//     (Kafka's flexible versions require it; franz-go, librdkafka and the
//     Java client do).
//   - longer, or shorter by less than that: NodeEndpoints are left out
//     (logged at Debug) and the freed bytes padded the same way. KIP-951
//     is an optimisation: a client without them refreshes its metadata
//     and finds the new leader there, at its listener. An upstream address
//     is never passed on.
//
// The proxy's addresses (127.0.0.1 and a port) are usually shorter than
// brokers' names, so padding is what clients see. Produce responses (no
// records), ShareFetch and ShareAcknowledge responses (rare, small) and
// the other rewritten responses are read whole, into memory that grows as
// their bytes arrive, rewritten and re-encoded at whatever size results.
// sarama reads Fetch up to v12 and kafka-go up to v11, and Debian's
// librdkafka 2.0 up to v11: brokers send NodeEndpoints only from v16, so
// they never see the padding.
//
// # Bad input
//
// Frames are bounded (WithMaxFrame, default 100 MiB) and memory for a
// frame the proxy reads whole grows as its bytes arrive. A TLS handshake
// or an HTTP request on a plaintext listener, a frame size out of bounds,
// or a broker answering with TLS closes that connection with one log line
// that says what it looked like and what to do. A broker that cannot be
// dialled closes the client's connection at once, logged with the
// dialer's own error.
package proxy
