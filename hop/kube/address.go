package kube

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// targetKind says what an address names.
type targetKind int

const (
	podName targetKind = iota + 1 // POD.SUBDOMAIN.NS.svc[.DOMAIN]
	service                       // SVC.NS.svc[.DOMAIN], SVC.NS, SVC
	podIP                         // an IP address
)

// target is an address as the dialer understands it.
type target struct {
	kind      targetKind
	name      string // pod or service name
	subdomain string // podName: the headless service of the per-pod name
	namespace string // "" = the dialer's namespace
	ip        netip.Addr
	port      int
}

// what names the target in messages: "pod kafka-0 in namespace kafka".
func (t target) what(defaultNS string) string {
	ns := t.namespace
	if ns == "" {
		ns = defaultNS
	}
	switch t.kind {
	case podName:
		return fmt.Sprintf("pod %s in namespace %s", t.name, ns)
	case service:
		return fmt.Sprintf("service %s in namespace %s", t.name, ns)
	default:
		return "the pod with IP " + t.ip.String()
	}
}

func addressForms(domain string) string {
	return fmt.Sprintf("POD.SERVICE.NAMESPACE.svc[.%s]:PORT, SERVICE.NAMESPACE.svc[.%[1]s]:PORT, SERVICE.NAMESPACE:PORT, SERVICE:PORT or POD-IP:PORT", domain)
}

// parseAddress reads the host:port that a Kafka client dials: a per-pod
// name of a headless service, a service name in one of its forms, or a pod
// IP. domain is the cluster domain (lower case, no trailing dot). Names
// fold to lower case; a trailing dot is dropped.
func parseAddress(addr, domain string) (target, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return target{}, fmt.Errorf("address %q: want host:port", addr)
	}
	port, err := parsePort(portText)
	if err != nil {
		return target{}, fmt.Errorf("address %q: %v", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return target{}, fmt.Errorf("address %q: a pod IP has no zone", addr)
		}
		return target{kind: podIP, ip: ip.Unmap(), port: port}, nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !isLabel(l) {
			return target{}, fmt.Errorf("address %q is not a Kubernetes name (label %q): want %s", addr, l, addressForms(domain))
		}
	}
	svcForm := false
	switch {
	case strings.HasSuffix(name, ".svc."+domain):
		labels, svcForm = labels[:len(labels)-2-strings.Count(domain, ".")], true
	case strings.HasSuffix(name, ".svc"):
		labels, svcForm = labels[:len(labels)-1], true
	}
	t := target{port: port}
	switch {
	case svcForm && len(labels) == 3:
		t.kind, t.name, t.subdomain, t.namespace = podName, labels[0], labels[1], labels[2]
	case svcForm && len(labels) == 2, !svcForm && len(labels) == 2:
		t.kind, t.name, t.namespace = service, labels[0], labels[1]
	case !svcForm && len(labels) == 1:
		t.kind, t.name = service, labels[0]
	default:
		return target{}, fmt.Errorf("address %q is not a Kubernetes address: want %s", addr, addressForms(domain))
	}
	return t, nil
}

// isLabel reports whether s is an RFC 1123 label, as Kubernetes names of
// pods, services and namespaces are: lower-case letters, digits and '-',
// starting and ending with a letter or digit, at most 63 bytes.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
