// Package discover reads a compose project or a Docker engine's
// containers and finds the Kafka and Redpanda brokers in them: the
// listeners each advertises, whether and how this host reaches each one,
// and the rules that let a kafkadial dialer reach them all.
//
//	res, err := discover.Compose(ctx, "compose.yaml")
//	if err != nil {
//		return err
//	}
//	d, err := dialer.New(dialer.WithRules(strings.Join(res.Rules(), "\n")))
//
// # One model, two front ends
//
// Compose loads a project as docker compose does (compose-go: .env,
// COMPOSE_FILE, override files, profiles, env_file); Project takes one
// compose-go loaded already; Docker takes a snapshot of an engine
// (github.com/kafkadial/kafkadial/resolver/docker's Resolver.Snapshot),
// where the host ports are the ones the engine really published, random
// ones included. Both front ends turn what they read into one model of
// a node (environment, command line, mounts, published ports, names on
// its networks), and the rest reads that model only: Kafka settings from a --override on the command line, the
// environment (KAFKA_ and bitnami's KAFKA_CFG_ forms, wurstmeister's
// HOSTNAME_COMMAND and PORT_COMMAND), then a server.properties the node
// bind-mounts; Redpanda's from --kafka-addr and --advertise-kafka-addr.
//
// # Results
//
// A Result lists the nodes (Service) and, for each broker, its
// advertised listeners (Listener): the container port that serves it,
// the published address that reaches it, the rule, and how the host
// reaches it as a code (Reach). Result.Rules are rule-language text;
// Result.PassRules let a strict dialer reach the bootstrap addresses
// too.
//
// What discovery cannot follow and what it assumes are codes too, with
// the facts behind them: a Service's Problems (ProblemSyntax,
// ProblemSharedAddress, ProblemUnreachable...) and Assumed
// (AssumedPlaintext, AssumedHostname...). The derivation records codes
// and facts only; the words are the String and Explain methods', kept
// apart from it.
package discover
