package main

import (
	"fmt"
	"strings"

	"github.com/kafkadial/kafkadial/discover"
)

// composeResult is what from-compose found, as --json prints it.
type composeResult struct {
	Files     []string        `json:"files"`
	Services  []serviceResult `json:"services"`
	Rules     []string        `json:"rules"`
	Bootstrap []string        `json:"bootstrap"` // published addresses a host client can bootstrap from; the rules keep them as they are
	// OK: there is a broker, and every broker (controllers aside) has an
	// advertised address the host reaches.
	OK bool `json:"ok"`

	keep []string // "ADDR => =" for the bootstrap addresses no rule matches
}

type serviceResult struct {
	Service   string           `json:"service"`
	Image     string           `json:"image,omitempty"`
	Kind      string           `json:"kind"`            // Kafka or Redpanda
	Role      string           `json:"role"`            // broker, or controller for a KRaft controller-only node (no rules: clients never dial it)
	Roles     string           `json:"roles,omitempty"` // process.roles as set
	Read      []string         `json:"read,omitempty"`  // configuration files read besides the compose file
	Assumed   []string         `json:"assumed,omitempty"`
	Listeners []listenerResult `json:"listeners"`
	Problems  []string         `json:"problems,omitempty"` // configuration the command cannot follow
}

type listenerResult struct {
	Name          string `json:"name"`               // listener name, e.g. PLAINTEXT_HOST
	Protocol      string `json:"protocol,omitempty"` // its security protocol
	Advertised    string `json:"advertised"`         // host:port clients are told, as written
	Computed      string `json:"computed,omitempty"` // what computes part of Advertised at container start
	ContainerPort int    `json:"container_port"`     // the port the listener binds in the container
	Published     string `json:"published,omitempty"`
	Rule          string `json:"rule,omitempty"`
	Reachable     bool   `json:"reachable"` // the host reaches Advertised (through Rule)
	Note          string `json:"note"`      // how Published was found, or why there is none
}

// newComposeResult renders what discovery found for output.
func newComposeResult(r *discover.Result) *composeResult {
	res := &composeResult{Files: r.Sources, Services: []serviceResult{}, Rules: r.Rules(), Bootstrap: r.Bootstrap(), OK: r.OK(), keep: r.PassRules()}
	for _, s := range r.Services {
		sr := serviceResult{Service: s.Name, Image: s.Image, Kind: string(s.Kind), Role: string(s.Role), Roles: s.Roles,
			Read: texts(s.Read), Assumed: texts(s.Assumed), Problems: texts(s.Problems), Listeners: []listenerResult{}}
		for _, l := range s.Listeners {
			sr.Listeners = append(sr.Listeners, listenerResult{Name: l.Name, Protocol: l.Protocol, Advertised: l.Advertised, Computed: l.Computed(),
				ContainerPort: l.ContainerPort, Published: l.Published, Rule: l.Rule, Reachable: l.Reachable(), Note: l.Explain()})
		}
		res.Services = append(res.Services, sr)
	}
	return res
}

// texts are what discovery found in words: its problems, assumptions
// and files read.
func texts[T fmt.Stringer](xs []T) []string {
	if len(xs) == 0 {
		return nil
	}
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

// writeComposeRules prints the result as a rules file whose comments say
// where each rule comes from and what is left unreachable: command is the
// command that derived them, unit what a node is (service, container).
func writeComposeRules(w *strings.Builder, res *composeResult, command, unit string) {
	// Text from the compose file goes into comments: keep each on its line.
	oneLine := printable
	fmt.Fprintf(w, "# kafkadial rules derived by `kafkadial rules %s` from\n", command)
	for _, f := range res.Files {
		fmt.Fprintf(w, "#   %s\n", oneLine(f))
	}
	if len(res.Bootstrap) > 0 {
		fmt.Fprintf(w, "# bootstrap from the host with %s\n", strings.Join(res.Bootstrap, ","))
	}
	width := 0
	for _, s := range res.Services {
		for _, l := range s.Listeners {
			width = max(width, len(l.Rule))
		}
	}
	for _, k := range res.keep {
		width = max(width, len(k))
	}
	for _, s := range res.Services {
		fmt.Fprintf(w, "\n# %s %s", unit, oneLine(s.Service))
		if s.Image != "" {
			fmt.Fprintf(w, " (%s)", oneLine(s.Image))
		}
		if s.Role == string(discover.Controller) {
			fmt.Fprintf(w, ": KRaft controller only (%s): clients never dial it, so it needs no rule\n", oneLine(s.Roles))
			continue
		}
		fmt.Fprintln(w)
		for _, r := range s.Read {
			fmt.Fprintf(w, "# read %s\n", oneLine(r))
		}
		for _, a := range s.Assumed {
			fmt.Fprintf(w, "# assumed: %s\n", oneLine(a))
		}
		for _, p := range s.Problems {
			fmt.Fprintf(w, "# PROBLEM: %s\n", oneLine(p))
		}
		for _, l := range s.Listeners {
			if l.Rule != "" {
				fmt.Fprintf(w, "%-*s  # %s\n", width, l.Rule, oneLine(l.Note))
			} else {
				fmt.Fprintf(w, "# %s is not reachable from the host: %s\n", oneLine(l.Advertised), oneLine(l.Note))
			}
		}
	}
	if len(res.keep) > 0 {
		fmt.Fprintf(w, "\n# the published addresses, dialled as they are (so that a strict dialer reaches the bootstrap)\n")
		for _, k := range res.keep {
			fmt.Fprintln(w, k)
		}
	}
}
