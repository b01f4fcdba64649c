// Package resolver is an embedded DNS resolver for finding Kafka brokers,
// built on github.com/miekg/dns: zone data says where each advertised name
// really is, chosen upstream servers answer for whole domains, and the same
// answers are served on a local port to tools that are not Go (kcat, Java
// clients, web UIs).
//
//	r, err := resolver.New(resolver.WithZone(`
//	kafka-1              A   127.0.0.1
//	_29092._tcp.kafka-2  SRV 0 0 19092 kafka-1
//	`), resolver.WithForward("kafka.internal.", "127.0.0.1:5300"))
//	if err != nil { ... }
//	d, err := dialer.New(dialer.WithResolver(r)) // rules first, then r
//
// # Where an address goes
//
// Resolve("HOST:PORT") first looks for SRV records at _PORT._tcp.HOST (the
// port-prefixed naming DANE/TLSA uses): their targets and ports, by
// priority and weight, say where that one port of HOST really is. Without
// them, HOST's A then AAAA addresses remap the host and keep the port.
// CNAMEs are followed, across zone data and upstreams.
//
// # Who answers a name
//
// A name with records in the zone data is answered from it
// (authoritatively); so are the names below such a name or below an SOA
// apex (NXDOMAIN when missing), unless a WithForward suffix at least as
// long covers them. Other names go to the upstream of the longest matching
// WithForward suffix ("." matches all). Names outside every zone and
// forward are refused: without a "." forward the resolver is never an
// open resolver, and it only listens on loopback unless told otherwise.
//
// Names without a dot ("kafka-3") are taken as single-label names, after
// the WithSearch domains. An AAAA question for a name with only A records
// gets NODATA (NOERROR, empty), never NXDOMAIN.
//
// # Options
//
// Options follow one contract: a nil Option is ignored; New validates them
// and names the option in the error; their order never matters, except
// among zone sources, the servers of one forward suffix and the search
// domains, which keep the order given; WithLogger(nil) discards; each
// option's documentation states its default. WithTimeout is an upper bound
// on each lookup, applied as whichever of it and the caller's context ends
// first.
//
// # Cache
//
// Upstream answers are kept for their TTL (at most an hour), negative ones
// for the SOA's negative TTL (RFC 2308) or 10s; concurrent questions for
// one name share one upstream query. Resolve results are cached too: a
// cached Resolve allocates only the slice it returns.
package resolver
