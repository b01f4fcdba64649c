package discover

import (
	"fmt"
	"io/fs"
	"strings"
)

// svc is a compose file with one Kafka service; extra lines go into its
// environment (extra[0]) and the service itself (extra[1]).
func svc(name, adv, listeners, ports string, extra ...string) string {
	return "services:\n" + svcBody(name, adv, listeners, ports, extra...)
}

func svcBody(name, adv, listeners, ports string, extra ...string) string {
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

// memFiles is a host file system held in memory, keyed by path.
type memFiles map[string]string

func (m memFiles) readProps(path string) (map[string]prop, error) {
	s, ok := m[path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return parseProps([]byte(s))
}

func (m memFiles) isDir(path string) bool {
	for k := range m {
		if strings.HasPrefix(k, path+"/") {
			return true
		}
	}
	return false
}
