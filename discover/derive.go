package discover

import (
	"cmp"
	"slices"
)

// derive finds the Kafka and Redpanda nodes among nodes and the rules
// that let the host reach each address their brokers advertise. The
// result's Sources are the front end's to set.
func derive(nodes []*node, c *config) *Result {
	files := c.hostFiles
	if files == nil {
		files = osFiles{}
	}
	target := "127.0.0.1"
	if c.address != nil {
		target = *c.address
	}
	v := newProjectView(nodes, deriveOptions{target: target, files: files})
	res := &Result{Services: []Service{}, rules: []string{}, bootstrap: []string{}, ok: true}
	claimed := map[string]string{} // advertised address -> service that has a rule for it
	brokers := 0
	for _, name := range v.names {
		sp := v.specs[name]
		if sp == nil {
			continue
		}
		n := v.nodes[name]
		sr := v.deriveService(n, sp)
		if sr.Role != Controller {
			brokers++
			if !v.claim(res, &sr, claimed) {
				res.ok = false
			}
		}
		v.container(res, &sr, n)
		res.Services = append(res.Services, sr)
	}
	if brokers == 0 {
		res.ok = false
	}
	return res
}

// claim adds a broker's rules to res, those of addresses that no
// service before it advertises, and reports whether the host reaches
// the broker.
func (v *projectView) claim(res *Result, sr *Service, claimed map[string]string) bool {
	reachable := false
	for i := range sr.Listeners {
		l := &sr.Listeners[i]
		if l.Rule == "" {
			continue
		}
		if other, dup := claimed[l.Advertised]; dup {
			sr.problem(Problem{Code: ProblemSharedAddress, addr: l.Advertised, service: other})
			l.Rule, l.reachable, l.TakenBy = "", false, other
			continue
		}
		claimed[l.Advertised] = sr.Name
		res.rules = append(res.rules, l.Rule)
		if l.Published != "" {
			res.bootstrap = append(res.bootstrap, l.Published)
		}
		reachable = true
	}
	v.adviseUnpublished(sr, reachable)
	if !reachable && len(sr.Problems) == 0 {
		sr.problem(Problem{Code: ProblemUnreachable})
	}
	return reachable
}

// container adds what an engine says of a container: its state (a
// container that does not run publishes nothing), the replicas it stands
// for, and which of its rules follow a host port the engine picked.
func (v *projectView) container(res *Result, sr *Service, n *node) {
	if !n.engine {
		return
	}
	sr.State = n.state
	if n.state != "running" {
		sr.problem(Problem{Code: ProblemNotRunning, value: n.state, service: sr.Name})
		res.ok = false
	}
	if len(n.replicas) > 0 {
		sr.Replicas = slices.Clone(n.replicas)
		sr.assume(Assumption{Code: AssumedReplicas, replicas: n.replicas, service: sr.Name})
	}
	for i := range sr.Listeners {
		l := &sr.Listeners[i]
		l.RandomPort = l.Rule != "" && n.random[l.ContainerPort]
	}
}

// deriveOptions says how to derive rules.
type deriveOptions struct {
	// target is the address that reaches ports published on all
	// interfaces: 127.0.0.1, or the Docker host's address.
	target string
	// files reads what services mount from the host.
	files hostFiles
}

func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
