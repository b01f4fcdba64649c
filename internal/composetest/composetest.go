// Package composetest writes small compose files for the tests of the
// compose reading (package discover) and of the command that renders it
// (kafkadial rules from-compose).
package composetest

import (
	"fmt"
	"strings"
)

// Service is a compose file with one Kafka service: name, its advertised
// listeners and listeners (KAFKA_ADVERTISED_LISTENERS, KAFKA_LISTENERS;
// "" leaves one out) and a ports line. extra[0], when given, is one more
// line of its environment, extra[1] one more line of the service.
func Service(name, adv, listeners, ports string, extra ...string) string {
	return "services:\n" + ServiceBody(name, adv, listeners, ports, extra...)
}

// ServiceBody is Service without the "services:" line, to put several
// services in one file.
func ServiceBody(name, adv, listeners, ports string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s:\n    image: apache/kafka:3.9.1\n    %s\n", name, ports)
	if len(extra) > 1 && extra[1] != "" {
		fmt.Fprintf(&b, "    %s\n", extra[1])
	}
	b.WriteString("    environment:\n")
	if adv != "" {
		fmt.Fprintf(&b, "      KAFKA_ADVERTISED_LISTENERS: %q\n", adv)
	}
	if listeners != "" {
		fmt.Fprintf(&b, "      KAFKA_LISTENERS: %q\n", listeners)
	}
	if len(extra) > 0 && extra[0] != "" {
		fmt.Fprintf(&b, "      %s\n", extra[0])
	}
	return b.String()
}
