// Package dialer remaps the addresses Kafka brokers advertise to addresses
// this process can reach, and dials them: by rules, by a resolver, through
// hops, with TLS verified against the advertised name.
//
//	d, err := dialer.New(dialer.WithRules(`kafka-{id}:29092 => 127.0.0.1:1909{id}`))
//	if err != nil {
//		log.Fatal(err) // a *dialer.RuleError: rules:1:...: what was expected
//	}
//	defer d.Close()
//	conn, err := d.DialContext(ctx, "tcp", "kafka-3:29092") // connects to 127.0.0.1:19093
//
// A *Dialer is a ContextDialer (DialContext) and an x/net/proxy.Dialer
// (Dial); the adapters in github.com/kafkadial/kafkadial/adapters plug it
// into sarama, franz-go and kafka-go, and net/http takes d.DialContext.
//
// # Where a dial goes
//
// For each dial to "host:port" over tcp, tcp4 or tcp6:
//
//  1. Rules, from WithRules, WithNamedRules, WithRulesFile and WithEnv in
//     the order given: the first rule that matches, in written order, wins.
//     The rule language — exact hosts, wildcards and captures, CIDR
//     prefixes, regexps, literal quoted hosts, targets, via lists — is
//     documented in package github.com/kafkadial/kafkadial/rules.
//  2. Otherwise the resolvers given to WithResolver, if any (package
//     github.com/kafkadial/kafkadial/resolver, or the Docker engine's
//     github.com/kafkadial/kafkadial/resolver/docker), asked in the order
//     given: the first that knows the name answers, and its candidates are
//     tried in order. A name one does not know (*net.DNSError with
//     IsNotFound) goes to the next, and past the last to step 3; any other
//     failure fails the dial.
//  3. Otherwise the address is dialled as asked, or, under WithStrict,
//     refused with an error wrapping ErrNoRoute (fail closed).
//
// Route and RouteContext say what a dial would do without dialling: the
// target, the hops, the rule ("rules.txt:3", or "" when no rule chose),
// the Origin (OriginRule, OriginResolver, OriginNone), what the resolver
// that answered said (Detail) and the TLS name. Check reports every problem
// in a set of rules at once. Other networks (udp, unix) pass through to the
// forward dialer untouched, so a client's own DNS traffic is unaffected.
//
// # Options
//
// Options follow one contract: a nil Option is ignored; New (and Check)
// validate them and name the option in the error; their order never
// matters, except that rule sources match, and resolvers are asked, in the
// order given; WithLogger(nil) discards; each option's documentation states
// its default. WithTimeout is an upper bound on each dial, applied as
// whichever of it and the caller's context ends first.
//
// # Hops
//
// A rule's "via" list reaches the target through hops: a ContextDialer
// registered in code with WithVia, or a URL whose scheme a hop.Builder
// builds: ssh:// (package hop/ssh; OpenSSH's ssh_config, known_hosts and
// agent, see WithSSHConfig), socks5:// and socks5h:// (hop/socks5), http://
// (hop/httpconnect, CONNECT). WithScheme adds schemes to one dialer; there
// is no global registry. Close ends the connections the hops hold.
//
// # TLS
//
// With WithTLS the dialer performs the handshake and verifies the
// certificate against the advertised host — the one the client asked for —
// never the remapped target, unless the config sets ServerName. Clients
// that layer TLS themselves (sarama, kafka-go) get a plain connection from
// Plain and the config through their adapter, so no connection gets TLS
// twice.
//
// # Errors
//
// A failed dial returns a *net.OpError with Op "dial" (franz-go retries
// and moves to the next broker only on those) whose Err is a *DialError
// carrying the Route; its message names the advertised address, the target
// and what chose it:
//
//	dial tcp kafka-3:29092: remapped to 127.0.0.1:19093 by rules.txt:3: connect: connection refused
//
// DialError.Timeout reports timeouts, and DialerTimeout says when it was
// the dialer's own bound (WithTimeout, default 10s) that expired rather
// than the caller's context. Typed causes to branch on: ErrNoRoute
// (strict), ErrClosed (which matches net.ErrClosed too), ErrProxyAuth (an HTTP proxy said 407), *HostKeyError
// (an SSH host key unknown, changed or revoked). Bad rules are a *RuleError
// with source, line and column. Credentials in hop URLs are masked in
// errors, routes and logs.
package dialer
