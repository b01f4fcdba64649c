// Package docker finds Kafka brokers that run in Docker by asking the Docker
// engine: a dialer.Resolver that knows every container's names, aliases,
// published ports (random ones included) and network addresses, and follows
// the engine's event stream so that a restarted container's new port is
// used by the next dial. No rules needed.
//
//	r, err := docker.New(ctx) // DOCKER_HOST, the docker CLI's context, or the default socket
//	if err != nil { ... }
//	defer r.Close()
//	d, err := dialer.New(dialer.WithResolver(r), dialer.WithStrict())
//	cl, err := kgo.NewClient(kgo.SeedBrokers("kafka-1:29092"), franzdial.Opt(d))
//
// It is a module of its own (github.com/kafkadial/kafkadial/resolver/docker),
// so that the core never inherits the Docker client's dependencies.
//
// # Which container a name means
//
// A host matches a container by, in this order of preference: its ID or
// short ID, its name, a network alias, its hostname, its compose service
// name (label com.docker.compose.service), or its address on any network.
// Names compare case-insensitively, with a trailing dot ignored. A running
// container wins over a stopped one; two running containers matching at
// the same level (a scaled compose service) are an *AmbiguousError. The
// port is the container port.
//
// # What it answers
//
// Resolve("kafka-3:29092") returns, best first:
//
//  1. each host address that publishes container port 29092: a binding on
//     0.0.0.0 or :: becomes 127.0.0.1 for a local engine and the engine's
//     host for a remote one (tcp://docker-host:2375 gives docker-host);
//     duplicates (the 0.0.0.0 and :: pair of -p 29092) are dropped;
//  2. then the container's address on each of its networks (by network
//     name), unless the resolver answers only with published ports.
//
// A container on the host's network (network_mode host) is answered at
// 127.0.0.1 (or the remote engine's host) with the port as asked.
//
// A name no container answers to is *not found* (a *net.DNSError with
// IsNotFound), so rules, other resolvers and dialer.WithStrict behave as
// they do with DNS. A container that exists but is not running fails the
// dial with a *StoppedError ("container kafka-3 (3f2a1c9d4e5b) is exited,
// not running: start it"); a running one whose port is not published, when
// only published ports may be answered, with an *UnpublishedError that says
// what to do ("publish 29092 ... or drop WithPublishedOnly").
//
// # Linux, Docker Desktop, rootless and remote engines
//
// Container addresses are reachable from the host only with a rootful
// engine on this machine's own Linux kernel. The resolver decides from the
// engine's own answers (GET /info) and its address, never by probing:
//
//   - the address is tcp://, http:// or https:// to a host that is not
//     loopback: a remote engine;
//   - OperatingSystem contains "Docker Desktop": containers run in a VM;
//   - SecurityOptions holds "name=rootless": containers live in the
//     engine's own network namespace;
//   - OSType differs from this program's GOOS (a Linux engine serving a
//     macOS or Windows host: colima, Rancher Desktop, ...): a VM.
//
// In each case it answers only with published ports, as WithPublishedOnly
// makes it do anywhere; Snapshot().Why says which case applied.
//
// # Live
//
// New subscribes to the engine's events (container create, start, die,
// pause, rename, update, destroy; network connect and disconnect), then
// loads every container: each event makes it inspect that one container
// again and swap in a new in-memory table, so Resolve takes no lock and
// makes no engine call. When the stream breaks, it reconnects and reloads
// everything at once; while the engine does not answer, every Resolve
// fails with an *EngineError naming the address and since when, and it
// retries (every 2s at most) until the engine returns or Close is called.
package docker
