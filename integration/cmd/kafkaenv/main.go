// Command kafkaenv stands in for the Kafka, Redpanda and proxy images of a
// docker-compose layout, for the Docker suites' FROM-scratch image (no
// registry is reachable there). It reads a node's configuration the way the
// images do and serves kfake (github.com/twmb/franz-go/pkg/kfake) brokers on
// the listeners that configuration names, each advertising what Kafka would
// advertise on it:
//
//   - Kafka (apache/kafka, confluentinc/cp-kafka, bitnami/kafka): KAFKA_ and
//     KAFKA_CFG_ variables over a mounted server.properties (apache/kafka's
//     /mnt/shared/config/server.properties, or a .properties file named on
//     the command line), with what those images supply where a setting is
//     absent (a controller listener named CONTROLLER mapped to PLAINTEXT;
//     without KAFKA_LISTENERS, cp-kafka's listeners on the advertised
//     ports). A KRaft controller-only node serves no Kafka clients.
//   - wurstmeister/kafka: KAFKA_ADVERTISED_HOST_NAME, KAFKA_ADVERTISED_PORT,
//     KAFKA_PORT, HOSTNAME_COMMAND and PORT_COMMAND with their
//     _{HOSTNAME_COMMAND} / _{PORT_COMMAND} placeholders, and the host port
//     the start script asks docker for when the socket is mounted. A
//     scratch image has no shell: the command forms the test layouts use
//     are evaluated in Go (see commands.go), any other is refused.
//   - Redpanda: `redpanda start --kafka-addr ... --advertise-kafka-addr ...`.
//   - socat (`kafkaenv socat TCP-LISTEN:P,fork TCP-CONNECT:HOST:P`) and
//     toxiproxy (`kafkaenv toxiproxy -config FILE`): plain TCP forwarders.
//
// Each listener of a node serves the same cluster: the node's kfake broker
// listens on loopback, and every configured listener forwards to it while
// rewriting the broker addresses in Metadata, FindCoordinator and
// DescribeCluster answers to the addresses advertised on that listener, as
// Kafka answers on each listener with that listener's advertised address.
// A node is a one-broker cluster of its own unless KAFKAENV_CORE names a
// core (`kafkaenv core -brokers N`): then the N nodes that register there
// are the brokers of one cluster, the core running kfake and the nodes
// forwarding their listeners to it. Topics created through a listener get
// their partition leaders spread over the brokers, so that producing to
// every partition reaches every broker.
//
// It shares no configuration parsing with cmd/kafkadial, on purpose: it
// stands for the images, and `rules from-compose` is tested against it, so
// a misreading in the command shows up as a failed test instead of being
// agreed with by the same code on both sides.
//
// It prints "kafkaenv ready" once every listener accepts connections, and
// runs until SIGINT or SIGTERM. A configuration Kafka would refuse to start
// with (a listener missing from the protocol map, advertised names that no
// listener binds, ...) makes it exit 1 with the reason.
//
//	kafkaenv                        # a Kafka node, from its environment and files
//	kafkaenv redpanda start --kafka-addr internal://0.0.0.0:9092 --advertise-kafka-addr internal://redpanda:9092
//	kafkaenv socat tcp-listen:29092,fork,reuseaddr tcp-connect:kafka:9092
//	kafkaenv toxiproxy -host=0.0.0.0 -config=/config/toxiproxy.json
//	kafkaenv core -brokers 3        # with KAFKAENV_CORE=core-service:7000 on each node
package main

import (
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("kafkaenv: ")
	args := os.Args[1:]
	mode := "kafka"
	if len(args) > 0 {
		switch args[0] {
		case "core", "socat", "toxiproxy", "kafka":
			mode, args = args[0], args[1:]
		}
	}
	if mode == "kafka" && isRedpanda(args) {
		mode = "redpanda"
	}
	var stop func()
	var err error
	switch mode {
	case "core":
		stop, err = runCore(args)
	case "socat":
		stop, err = runSocat(args)
	case "toxiproxy":
		stop, err = runToxiproxy(args)
	case "redpanda":
		stop, err = runNode(redpandaNode(args))
	default:
		stop, err = runNode(kafkaNode(environ(), args, osHost{}))
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("kafkaenv ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Println("stopping")
	stop()
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}
